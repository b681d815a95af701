"""Bits held eight to a byte: a growing key (:class:`PackedBits`) and per-pulse fields (:class:`PackedFields`).

A key block's sifted key bits arrive batch by batch and are needed only at
the block's end (Cascade, the verification hash, privacy amplification),
so Alice keeps them packed in between: one bit per key bit instead of the
byte per bit of a ``uint8`` array. Exact: :meth:`PackedBits.unpacked` gives
back the bits appended, in order, as ``uint8`` zeros and ones.

The messages of a batch in flight (Alice's pulses, Bob's detection report)
hold their per-pulse or per-click fields (bases, bits, intensity class,
photon number, flags) as :class:`PackedFields`: each field in as many bit
planes as its largest value needs, eight entries to a byte a plane, and,
where only some entries matter (the pulses Bob detected), those entries'
indices in the narrowest unsigned type. Exact: :meth:`PackedFields.unpacked`
gives back the arrays packed, dtypes included (the entries left out as 0).
"""

from __future__ import annotations

import numpy as np

__all__ = ["PackedBits", "PackedFields", "index_dtype"]


class PackedBits:
    """Bits appended in order, held eight to a byte (``numpy.packbits``, most significant bit first).

    Whole bytes go to a ``bytearray`` (amortised growth); the last ``num_bits % 8`` bits wait, unpacked, for
    the next :meth:`append`. Picklable (a checkpoint inside a key block holds it).

    Examples:
        >>> key = PackedBits()
        >>> key.append(np.array([1, 0, 1], dtype=np.uint8)); key.append(np.ones(7, dtype=np.uint8))
        >>> key.num_bits, key.nbytes, key.unpacked().tolist()
        (10, 3, [1, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    """

    __slots__ = ("_packed", "_tail")

    def __init__(self, bits=None):
        self._packed = bytearray()
        self._tail = np.zeros(0, dtype=np.uint8)  # the last num_bits % 8 bits, not packed yet
        if bits is not None:
            self.append(bits)

    @property
    def num_bits(self) -> int:
        """Bits appended so far."""
        return 8 * len(self._packed) + int(self._tail.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes the bits take: ``num_bits // 8`` packed ones plus at most 7 unpacked ones."""
        return len(self._packed) + int(self._tail.nbytes)

    def append(self, bits) -> None:
        """Append ``bits`` (a 1-D array of zeros and ones, any integer or bool dtype, on the host)."""
        bits = np.asarray(bits)
        if bits.ndim != 1:
            raise ValueError(f"PackedBits.append: bits must be 1-D, got shape {bits.shape}")
        if self._tail.shape[0]:
            bits = np.concatenate([self._tail, bits.astype(np.uint8, copy=False)])
        whole = bits.shape[0] - bits.shape[0] % 8
        if whole:
            self._packed += np.packbits(bits[:whole]).tobytes()
        self._tail = np.array(bits[whole:], dtype=np.uint8)

    def unpacked(self) -> np.ndarray:
        """All bits appended, in order, as a ``uint8`` array of zeros and ones."""
        head = np.unpackbits(np.frombuffer(bytes(self._packed), dtype=np.uint8))
        return np.concatenate([head, self._tail]) if self._tail.shape[0] else head

    def __getstate__(self):
        return {"packed": bytes(self._packed), "tail": self._tail}

    def __setstate__(self, state) -> None:
        self._packed = bytearray(state["packed"])
        self._tail = state["tail"]

    def __repr__(self) -> str:
        return f"PackedBits(<{self.num_bits} bits>)"


def index_dtype(size: int) -> np.dtype:
    """The narrowest unsigned integer type that holds every index below ``size`` (uint8 up to uint64).

    Examples:
        >>> [index_dtype(n).name for n in (256, 257, 65536, 2**32, 2**32 + 1)]
        ['uint8', 'uint16', 'uint16', 'uint32', 'uint64']
    """
    for dtype in (np.uint8, np.uint16, np.uint32):
        if size - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


class PackedFields:
    """Equal-length 1-D arrays of non-negative integers or bools, each held in bit planes (host NumPy).

    A field whose largest value needs ``b`` bits takes ``b`` planes of ``⌈n/8⌉`` bytes (a bool or 0/1 field
    one plane: an eighth of a byte per entry). With ``where``, only the entries where it is true are kept
    (their indices in :func:`index_dtype` of the length); :meth:`unpacked` gives 0 (``False``) elsewhere.
    Picklable; its pickle is its bytes plus a few hundred.

    Examples:
        >>> fields = PackedFields({"bit": np.array([1, 0, 1], np.uint8), "photons": np.array([0, 5, 2], np.int32)})
        >>> fields.nbytes, {k: v.tolist() for k, v in fields.unpacked().items()}
        (4, {'bit': [1, 0, 1], 'photons': [0, 5, 2]})
        >>> some = PackedFields({"bit": np.array([1, 0, 1], np.uint8)}, where=np.array([False, True, True]))
        >>> some.unpacked()["bit"].tolist(), some.index.tolist()
        ([0, 0, 1], [1, 2])
    """

    __slots__ = ("size", "index", "_planes")

    def __init__(self, arrays: dict, *, where=None):
        sizes = {int(np.shape(a)[0]) for a in arrays.values()}
        if len(sizes) > 1 or any(np.ndim(a) != 1 for a in arrays.values()):
            raise ValueError(f"PackedFields: the arrays must be 1-D of one length, got shapes "
                             f"{[np.shape(a) for a in arrays.values()]}")
        self.size = sizes.pop() if sizes else 0
        self.index = None
        if where is not None:
            where = np.asarray(where, dtype=bool)
            self.index = np.flatnonzero(where).astype(index_dtype(self.size))
        self._planes = {}
        for name, array in arrays.items():
            array = np.asarray(array)
            if array.dtype.kind not in "biu" or (array.dtype.kind == "i" and array.size and int(array.min()) < 0):
                raise ValueError(f"PackedFields: field {name!r} must hold non-negative integers or bools, "
                                 f"got dtype {array.dtype}")
            kept = array if self.index is None else array[self.index]
            top = int(kept.max()) if kept.size else 0
            planes = [np.packbits(((kept >> bit) & 1).astype(np.uint8, copy=False))
                      for bit in range(top.bit_length())] if array.dtype.kind != "b" else [np.packbits(kept)]
            self._planes[name] = (array.dtype.str, planes)

    @classmethod
    def from_planes(cls, size: int, planes: dict) -> PackedFields:
        """The fields of ``size`` entries (no ``where``) from their bit planes, as packed elsewhere.

        ``planes`` maps each name to ``(dtype, planes)``: the dtype string of the array (``numpy.dtype.str``)
        and its bit planes, least significant first, each ``numpy.packbits`` of that bit of every entry
        (``⌈size/8⌉`` bytes); as many planes as the largest value needs (one for a bool field)."""
        fields = cls({})
        fields.size = int(size)
        fields._planes = {name: (dtype, list(field_planes)) for name, (dtype, field_planes) in planes.items()}
        return fields

    @property
    def num_kept(self) -> int:
        """Entries held: the length, or those of ``where``."""
        return self.size if self.index is None else int(self.index.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the planes and the indices."""
        return (0 if self.index is None else int(self.index.nbytes)) + sum(
            int(plane.nbytes) for _dtype, planes in self._planes.values() for plane in planes)

    def unpacked(self, start: int = 0, stop: int | None = None) -> dict:
        """The arrays packed (name -> array of its dtype and the full length; 0 outside ``where``).

        ``start``, ``stop``: only entries ``start ... stop - 1`` (``start`` a multiple of 8; fields packed without
        ``where``), so that a large message can be read a piece at a time."""
        out = {}
        n = self.num_kept
        first = 0
        if start or stop is not None:
            if self.index is not None or start % 8 or start < 0:
                raise ValueError(f"PackedFields.unpacked: a piece needs fields without where and start a "
                                 f"multiple of 8, got start {start}")
            stop = n if stop is None else min(stop, n)
            first, n = start // 8, max(stop - start, 0)
        for name, (dtype, planes) in self._planes.items():
            dtype = np.dtype(dtype)
            kept = np.zeros(n, dtype=np.uint8 if dtype.kind == "b" else dtype)
            for bit, plane in enumerate(planes):
                kept |= np.unpackbits(plane[first:], count=n).astype(kept.dtype, copy=False) << kept.dtype.type(bit)
            kept = kept.view(bool) if dtype.kind == "b" else kept
            if self.index is None:
                out[name] = kept
            else:
                full = np.zeros(self.size, dtype=dtype)
                full[self.index] = kept
                out[name] = full
        return out

    def __getstate__(self):
        return {"size": self.size, "index": self.index, "planes": self._planes}

    def __setstate__(self, state) -> None:
        self.size, self.index, self._planes = state["size"], state["index"], state["planes"]

    def __repr__(self) -> str:
        return f"PackedFields(<{self.num_kept} of {self.size} entries: {', '.join(self._planes)}; {self.nbytes} bytes>)"
