"""Where a stored state's amplitudes live, and reading them back verified slab by slab.

A run file's ``state`` is in one of three layouts, all read the same way:

* ``contiguous``: gathered on one rank, a plain dataset with one checksum
  (attribute ``checksum``), treated here as a single slab;
* ``slabs``: a virtual dataset over per-rank slab files (attributes
  ``slab_files``, ``slab_checksums``, ``slab_size``; :mod:`dqsim.io.slabs`);
* ``collective``: a plain dataset written by every rank at once through
  parallel HDF5 (attributes ``slab_size``, ``num_slabs``, ``slab_checksums``;
  :mod:`dqsim.io.sharded`).

Slab ``i`` holds global amplitudes ``i*slab_size .. (i+1)*slab_size-1`` and
has its own checksum (``"<algorithm>:<hex>"``, SHA-256 or XXH3-128:
:mod:`dqsim.io.hashing`), so a range is verified by reading just the
slabs that overlap it (:func:`read_range`): ranks resuming a checkpoint check
their own parts in parallel. Slab files are read directly, not through the
virtual dataset, which would return zeros for a missing file.
"""

from __future__ import annotations

import os
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

import h5py
import numpy as np

from dqsim.errors import DamagedFileError, DqsimError
from dqsim.io import encoding
from dqsim.io.slabs import READ_CHUNK_AMPLITUDES, SLAB_DATASET, check_slab_file

#: Name of the state dataset in a run file.
STATE_DATASET = "state"


class CorruptSlab(DamagedFileError):
    """A slab whose amplitudes differ from their recorded checksum (raised by :func:`read_range`).

    Attributes:
        path: the slab file (``None``: a slab inside the run file, collective or gathered).
        algorithm: the checksum's algorithm (``sha256``, ``xxh3_128``).
    """

    def __init__(self, message: str, *, path: Optional[Path], algorithm: str):
        super().__init__(message)
        self.path, self.algorithm = path, algorithm


@dataclass(frozen=True)
class StateLayout:
    """How one run file's ``state`` is split into checksummed slabs.

    Attributes:
        main_path: the run file.
        kind: ``"contiguous"``, ``"slabs"`` or ``"collective"``.
        size: amplitudes in the state.
        dtype: ``complex64`` or ``complex128``.
        slab_size: amplitudes per slab (``size`` for ``contiguous``).
        checksums: ``"<algorithm>:<hex>"`` per slab (None: not recorded, not checked).
        files: slab files relative to the run file's folder (``slabs`` only).
    """

    main_path: Path
    kind: str
    size: int
    dtype: np.dtype
    slab_size: int
    checksums: tuple[Optional[str], ...]
    files: Optional[tuple[str, ...]] = None

    @classmethod
    def of(cls, main_path: Path, ds: h5py.Dataset) -> "StateLayout":
        """Read the layout of the open ``state`` dataset ``ds`` of ``main_path``.

        Raises:
            DqsimError: attributes missing or inconsistent with the dataset.
        """
        attrs = encoding.decode_attrs(ds.attrs)
        size, dtype = int(ds.shape[0]), np.dtype(ds.dtype)
        try:
            if ds.is_virtual:
                files = tuple(str(f) for f in attrs["slab_files"])
                layout = cls(main_path, "slabs", size, dtype, int(attrs["slab_size"]),
                             tuple(attrs["slab_checksums"]), files)
            elif attrs.get("layout") == "collective":
                layout = cls(main_path, "collective", size, dtype, int(attrs["slab_size"]),
                             tuple(attrs["slab_checksums"]))
                if len(layout.checksums) != int(attrs["num_slabs"]):
                    raise DqsimError(f"{main_path}: state records {len(layout.checksums)} slab checksums "
                                     f"for {attrs['num_slabs']} slabs; the file is damaged")
            else:
                return cls(main_path, "contiguous", size, dtype, size, (attrs.get("checksum"),))
        except KeyError as exc:
            raise DqsimError(f"{main_path}: state has no attribute {exc}; it was not written by dqsim "
                             "and cannot be verified") from None
        if layout.files is not None and len(layout.files) != len(layout.checksums):
            raise DqsimError(f"{main_path}: state lists {len(layout.files)} slab files but "
                             f"{len(layout.checksums)} checksums")
        if layout.slab_size < 1 or layout.slab_size * len(layout.checksums) != size:
            raise DqsimError(f"{main_path}: state of {size} amplitudes is not {len(layout.checksums)} slabs of "
                             f"{layout.slab_size}; the file is damaged")
        return layout

    @property
    def num_slabs(self) -> int:
        return len(self.checksums)

    def label(self, index: int) -> str:
        """How error messages name slab ``index``."""
        if self.kind == "contiguous":
            return f"{self.main_path}: state"
        where = self.files[index] if self.files is not None else (
            f"amplitudes {index * self.slab_size}..{(index + 1) * self.slab_size - 1}")
        return f"{self.main_path}: state slab {index} of {self.num_slabs} ({where})"

    def location(self, index: int) -> tuple[Path, str, int]:
        """``(file, dataset, first amplitude)`` of slab ``index`` inside that dataset."""
        if self.files is not None:
            return Path(os.path.abspath(self.main_path)).parent / self.files[index], SLAB_DATASET, 0
        return self.main_path, STATE_DATASET, index * self.slab_size

    def check_files(self) -> None:
        """Check, without reading amplitudes, that every slab is where the layout says.

        Slab files must exist with dataset ``slab`` of ``slab_size`` amplitudes
        of the state's dtype; the other layouts were checked by :meth:`of`.

        Raises:
            DqsimError: one line naming the first missing or malformed slab.
        """
        if self.files is None:
            return
        for index in range(self.num_slabs):
            path, _, _ = self.location(index)
            check_slab_file(path, self.slab_size, self.dtype, self.label(index))


def crc_range(ds: h5py.Dataset, start: int, stop: int, dtype: Any) -> int:
    """CRC-32 of ``ds[start:stop]``: checks that a part just written reads back as written.

    Reads chunk k+1 while a helper thread computes the CRC of chunk k (zlib
    releases the GIL), alternating two buffers.
    """
    crc = 0
    buffers = [np.empty(min(max(stop - start, 0), READ_CHUNK_AMPLITUDES), dtype=np.dtype(dtype).newbyteorder("<"))
               for _ in range(2)]
    with ThreadPoolExecutor(max_workers=1) as worker:
        pending = None
        for count, lo in enumerate(range(start, stop, READ_CHUNK_AMPLITUDES)):
            hi = min(lo + READ_CHUNK_AMPLITUDES, stop)
            buffer = buffers[count % 2][:hi - lo]
            ds.read_direct(buffer, source_sel=np.s_[lo:hi])
            if pending is not None:
                crc = pending.result()
            pending = worker.submit(zlib.crc32, buffer.view(np.uint8), crc)
        if pending is not None:
            crc = pending.result()
    return crc


def raw_offset(ds: h5py.Dataset) -> Optional[int]:
    """Where the amplitudes of ``ds`` start in its file (bytes), where they are one block stored as NumPy holds
    them on this machine (contiguous, unfiltered, little-endian); else ``None``: read them through HDF5.

    dqsim's slab files and collective states are stored so (:func:`dqsim.io.slabs.write_slab_file` writes
    them there with ``pwrite``); reading the block with ``readinto`` skips HDF5's conversion of the complex
    compound type, which read 256 MiB at 90 MB/s from the page cache (2026-12-06, loaded VM).
    """
    dtype = ds.dtype
    if (ds.is_virtual or ds.chunks is not None or ds.id.get_create_plist().get_nfilters() or sys.byteorder != "little"
            or dtype.kind != "c" or dtype.byteorder not in "=<"):
        return None
    offset = ds.id.get_offset()
    if offset is None or ds.id.get_storage_size() != ds.size * dtype.itemsize:
        return None
    return int(offset)


def _read_at(fh, chunk: np.ndarray, offset: int) -> None:
    """Read ``chunk``'s bytes from byte ``offset`` of the unbuffered file ``fh``, all of them (raises OSError)."""
    view = memoryview(chunk.reshape(-1).view(np.uint8))
    fh.seek(offset)
    done = 0
    while done < len(view):
        count = fh.readinto(view[done:])
        if not count:
            raise OSError(f"ends before byte {offset + len(view)}")
        done += count


def read_range(layout: StateLayout, start: int, stop: int, *, piece: int = READ_CHUNK_AMPLITUDES,
               verify: bool = True, into: Optional[np.ndarray] = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(global_offset, array)`` pieces of amplitudes ``start … stop-1``.

    With ``verify``, each slab overlapping the range is read once, whole,
    while hashing it; the requested part is yielded from what was read, in
    pieces of at most ``piece`` amplitudes, and the rest only hashed. The
    slab's checksum is compared after its last byte, before the generator
    moves on or finishes: a consumer that iterates to the end has verified
    data, and a corrupt slab raises in the middle of the iteration (the
    pieces already yielded from it must then be discarded). Without
    ``verify`` only ``start … stop-1`` is read. Call
    :meth:`StateLayout.check_files` first: HDF5 reads nothing wrong from a
    missing file until it is opened.

    ``into``: an array of ``stop - start`` amplitudes of the state's dtype
    (C-contiguous, in host memory) that the pieces are read into and
    yielded as views of (a resume reads straight into its register), instead
    of new arrays. A slab stored as one plain block (:func:`raw_offset`) is
    read with ``readinto`` from the block's place, else through HDF5.

    Raises:
        DqsimError: one line naming a corrupt or unreadable slab
            (:class:`CorruptSlab` for amplitudes that differ from their checksum).
        ValueError: ``piece`` < 1, or ``into`` of another length or dtype.
    """
    if piece < 1:
        raise ValueError(f"piece = {piece}: must be >= 1")
    if into is not None and (into.shape != (max(stop - start, 0),) or into.dtype != layout.dtype
                             or not into.flags.c_contiguous):
        raise ValueError(f"into: {into.shape} {into.dtype}; expected ({stop - start},) {layout.dtype}, C-contiguous")
    if stop <= start:
        return
    size = layout.slab_size
    scratch = [np.empty(min(size, READ_CHUNK_AMPLITUDES), dtype=layout.dtype) for _ in range(2)]
    reads = 0
    for index in range(start // size, (stop - 1) // size + 1):
        first, end = index * size, (index + 1) * size
        lo, hi = max(start, first), min(stop, end)
        recorded = layout.checksums[index] if verify else None
        segments = [(lo, hi, piece, True)]
        if recorded is not None:
            segments = [(first, lo, READ_CHUNK_AMPLITUDES, False), *segments, (hi, end, READ_CHUNK_AMPLITUDES, False)]
        path, name, base = layout.location(index)
        checksum = encoding.Checksum.matching(recorded, where=layout.label(index), background=True) \
            if recorded is not None else None
        try:
            with h5py.File(path, "r") as h5, open(path, "rb", buffering=0) as fh:
                ds = h5[name]
                block = raw_offset(ds)
                for seg_lo, seg_hi, step, wanted in segments:
                    for a in range(seg_lo, seg_hi, step):
                        b = min(a + step, seg_hi)
                        reads += 1  # alternate scratch buffers: the previous one may still be hashed
                        if not wanted:
                            chunk = scratch[reads % 2][:b - a]
                        else:
                            chunk = np.empty(b - a, dtype=layout.dtype) if into is None else into[a - start:b - start]
                        if block is not None:
                            _read_at(fh, chunk, block + (a - first + base) * layout.dtype.itemsize)
                        else:
                            ds.read_direct(chunk, source_sel=np.s_[a - first + base:b - first + base])
                        if recorded is not None:
                            checksum.update(chunk)
                        if wanted:
                            yield a, chunk
        except (OSError, KeyError) as exc:
            raise DqsimError(f"{layout.label(index)} cannot be read ({exc})") from None
        if recorded is not None and checksum.hexdigest() != recorded:
            raise CorruptSlab(f"{layout.label(index)} is corrupt: its checksum {checksum.hexdigest()} "
                              f"differs from the recorded {recorded}", path=path if layout.files else None,
                              algorithm=recorded.partition(":")[0])
