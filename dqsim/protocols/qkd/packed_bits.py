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
:class:`PlanesBuilder` writes those planes a piece of entries at a time: :class:`PackedFields` packs its
arrays with it in one piece, the detection sampler its clicks in many, so the layout is written once.

At a key block's end, Cascade and the hashes after it take the block's key as a :class:`PackedKeyPair`:
Alice's bits packed and the positions where Bob's differ (an eighth of a byte a key bit, plus 8 bytes an
error), never the bits a byte each.
"""

from __future__ import annotations

import numpy as np

__all__ = ["GrowingPlanes", "PackedBits", "PackedFields", "PackedKeyPair", "PlanesBuilder", "index_dtype"]


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

    def extend(self, other: PackedBits) -> None:
        """Append the bits of ``other`` (another :class:`PackedBits`) without unpacking its whole bytes: joined as
        they are where this holds whole bytes, else each shifted by this one's last ``num_bits % 8`` bits (the
        same bits as ``append(other.unpacked())``).

        Examples:
            >>> key = PackedBits(np.array([1, 0, 1], dtype=np.uint8))
            >>> key.extend(PackedBits(np.array([0, 1, 1, 0, 0, 1, 1, 1, 1, 0], dtype=np.uint8)))
            >>> key.unpacked().tolist()
            [1, 0, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 0]
        """
        whole = np.frombuffer(bytes(other._packed), dtype=np.uint8)
        tail = other._tail.copy()          # read before this one's tail changes (``other`` may be ``self``)
        shift = int(self._tail.shape[0])
        if not whole.size:
            self.append(tail)
            return
        if not shift:
            self._packed += whole.tobytes()
            self._tail = tail
            return
        # the stream is this tail (shift bits), other's bytes, other's tail: byte i of the joined bytes is the last
        # `shift` bits of other's byte i - 1 (the tail for i = 0) followed by the first 8 - shift bits of byte i
        first = np.packbits(self._tail)                      # the tail in the high bits of one byte
        before = np.concatenate([first, whole[:-1] << np.uint8(8 - shift)])
        self._packed += (before | (whole >> np.uint8(shift))).tobytes()
        self._tail = np.zeros(0, dtype=np.uint8)
        self.append(np.concatenate([np.unpackbits(whole[-1:])[8 - shift:], tail]))

    def packed(self) -> np.ndarray:
        """All bits appended, packed (``numpy.packbits`` of :meth:`unpacked`: ``⌈num_bits/8⌉`` bytes, the last
        byte's unused low bits 0); a copy."""
        head = np.frombuffer(bytearray(self._packed), dtype=np.uint8)
        return np.concatenate([head, np.packbits(self._tail)]) if self._tail.shape[0] else head

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
        self._planes = {}
        if where is not None:
            where = np.asarray(where, dtype=bool)
            self.index = np.flatnonzero(where).astype(index_dtype(self.size))
        kept_arrays, widths = {}, {}
        for name, array in arrays.items():
            array = np.asarray(array)
            if array.dtype.kind not in "biu" or (array.dtype.kind == "i" and array.size and int(array.min()) < 0):
                raise ValueError(f"PackedFields: field {name!r} must hold non-negative integers or bools, "
                                 f"got dtype {array.dtype}")
            kept = array if self.index is None else array[self.index]
            kept_arrays[name] = kept
            widths[name] = (array.dtype, int(kept.max()).bit_length() if kept.size else 0)
        builder = PlanesBuilder(self.num_kept, widths)
        builder.add(0, kept_arrays)
        self._planes = builder.planes()

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

    def unpacked_kept(self) -> tuple[np.ndarray | None, dict]:
        """``(index, arrays)``: the kept entries' indices (``None`` without ``where``) and values (name -> array
        of its dtype, one entry per kept entry), not spread over the full length as :meth:`unpacked` does."""
        out = {}
        for name, (dtype, planes) in self._planes.items():
            dtype = np.dtype(dtype)
            kept = np.zeros(self.num_kept, dtype=np.uint8 if dtype.kind == "b" else dtype)
            for bit, plane in enumerate(planes):
                kept |= np.unpackbits(plane, count=self.num_kept).astype(kept.dtype, copy=False) << kept.dtype.type(bit)
            out[name] = kept.view(bool) if dtype.kind == "b" else kept
        return self.index, out

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


class PlanesBuilder:
    """The bit planes of :class:`PackedFields`, written a piece of entries at a time.

    Each field gets ``max_bits`` planes of ``⌈size/8⌉`` bytes (a bool field one), plane ``b`` the
    ``numpy.packbits`` of bit ``b`` of every entry; :meth:`add` writes the entries of one piece, and
    :meth:`planes` drops an integer field's top planes that no entry set (so the field keeps as many planes
    as its largest value needs, as :class:`PackedFields` packs it). The layout of :class:`PackedFields`
    (and of the detection reports, :mod:`dqsim.protocols.qkd.detections`), written once.

    Examples:
        >>> builder = PlanesBuilder(12, {"bit": (np.uint8, 1), "flag": (bool, 1), "class": (np.uint8, 2)})
        >>> builder.add(0, {"bit": np.ones(8, np.uint8), "flag": np.zeros(8, bool), "class": np.ones(8, np.uint8)})
        >>> builder.add(8, {"bit": np.zeros(4, np.uint8), "flag": np.ones(4, bool), "class": np.ones(4, np.uint8)})
        >>> fields = PackedFields.from_planes(12, builder.planes())
        >>> fields.nbytes, fields.unpacked()["flag"].tolist()[6:10], fields.unpacked()["class"].tolist()[:3]
        (6, [False, False, True, True], [1, 1, 1])
    """

    __slots__ = ("size", "_dtypes", "_planes")

    def __init__(self, size: int, fields: dict):
        """``fields`` maps each name to ``(dtype, max_bits)``: the dtype of its arrays (non-negative integers or
        bool) and the most bits a value may need (ignored for a bool field: one plane)."""
        self.size = int(size)
        num_bytes = -(-self.size // 8)
        self._dtypes = {name: np.dtype(dtype) for name, (dtype, _bits) in fields.items()}
        self._planes = {name: [np.zeros(num_bytes, dtype=np.uint8)
                               for _ in range(1 if self._dtypes[name].kind == "b" else int(bits))]
                        for name, (_dtype, bits) in fields.items()}

    def add(self, first: int, arrays: dict) -> None:
        """Write entries ``first ... first + len - 1`` of every field (``first`` a multiple of 8; ``arrays`` maps
        each name to its piece, one length; a bool field's piece bool, an integer's below ``2**max_bits``)."""
        if first % 8:
            raise ValueError(f"PlanesBuilder.add: first must be a multiple of 8, got {first}")
        for name, array in arrays.items():
            last = first + int(array.shape[0])
            for bit, plane in enumerate(self._planes[name]):
                values = array if array.dtype == bool else (array >> array.dtype.type(bit)) & array.dtype.type(1)
                plane[first // 8:-(-last // 8)] = np.packbits(values)

    def planes(self) -> dict:
        """``name -> (dtype string, planes)`` as :meth:`PackedFields.from_planes` takes them, an integer field's
        unset top planes dropped."""
        out = {}
        for name, field_planes in self._planes.items():
            dtype = self._dtypes[name]
            if dtype.kind != "b":
                while field_planes and not field_planes[-1].any():
                    field_planes.pop()
            out[name] = (dtype.str, field_planes)
        return out


class GrowingPlanes:
    """The bit planes of :class:`PackedFields` (without ``where``) from pieces appended in order, each of any
    length: :meth:`fields` is ``PackedFields`` of the pieces joined, byte for byte, without the joined arrays.

    Each plane is a :class:`PackedBits`; a field gets a plane when a value first needs it (the entries before
    read 0 there), so it ends with as many as its largest value needs, as :class:`PackedFields` packs it.

    Examples:
        >>> planes = GrowingPlanes()
        >>> planes.append({"n": np.array([1, 0, 1], np.int32)}); planes.append({"n": np.array([6], np.int32)})
        >>> planes.fields().unpacked()["n"].tolist(), planes.fields().nbytes
        ([1, 0, 1, 6], 3)
    """

    __slots__ = ("size", "_dtypes", "_planes")

    def __init__(self):
        self.size = 0
        self._dtypes: dict = {}
        self._planes: dict = {}

    def append(self, arrays: dict) -> None:
        """Append one piece: ``arrays`` maps each field (the same fields, dtypes each time) to its values, one
        length, non-negative integers or bools."""
        length = {int(np.shape(a)[0]) for a in arrays.values()}
        if len(length) > 1:
            raise ValueError(f"GrowingPlanes.append: the arrays must be of one length, got {sorted(length)}")
        n = length.pop() if length else 0
        for name, array in arrays.items():
            array = np.asarray(array)
            dtype = self._dtypes.setdefault(name, array.dtype)
            planes = self._planes.setdefault(name, [])
            needed = 1 if dtype.kind == "b" else (int(array.max()).bit_length() if n else 0)
            while len(planes) < needed:  # a new plane: 0 for the entries so far
                plane = PackedBits()
                for first in range(0, self.size, 1 << 16):
                    plane.append(np.zeros(min(1 << 16, self.size - first), dtype=np.uint8))
                planes.append(plane)
            for bit, plane in enumerate(planes):
                plane.append(array if dtype.kind == "b" else (array >> array.dtype.type(bit)) & array.dtype.type(1))
        self.size += n

    def fields(self, *, size: int | None = None, index=None) -> PackedFields:
        """The :class:`PackedFields` of every entry appended; with ``size`` and ``index``, the entries appended
        are those kept at ``index`` (increasing, one per entry) of ``size``: ``PackedFields(arrays, where=...)``
        with ``where`` true at ``index``, byte for byte, without the full-length arrays (a report gathered a
        piece at a time)."""
        fields = PackedFields.from_planes(self.size, {name: (self._dtypes[name].str, [plane.packed() for plane in
                                                                                      planes])
                                                      for name, planes in self._planes.items()})
        if index is not None:
            if len(index) != self.size:
                raise ValueError(f"GrowingPlanes.fields: index must hold one entry per entry appended ({self.size}), "
                                 f"got {len(index)}")
            fields.size = int(size)
            fields.index = np.asarray(index).astype(index_dtype(fields.size))
        return fields


class PackedKeyPair:
    """Alice's and Bob's key bits of a block as Cascade and the hashes take them: Alice's packed, and the
    positions where Bob's differ.

    ``alice`` holds ``numpy.packbits`` of Alice's ``num_bits`` bits; ``errors`` the key positions (int64,
    increasing) where Bob's bit is the other one. Bob's key is Alice's with those bits flipped, so the pair
    takes ``num_bits / 8`` bytes plus 8 an error, against 2 bytes a key bit unpacked. Exact:
    :meth:`alice_bits` and :meth:`bob_bits` give the keys back.

    Examples:
        >>> pair = PackedKeyPair.of(np.array([1, 0, 1, 1, 0], np.uint8), np.array([1, 1, 1, 0, 0], np.uint8))
        >>> pair.num_bits, pair.errors.tolist(), pair.bob_bits().tolist()
        (5, [1, 3], [1, 1, 1, 0, 0])
    """

    __slots__ = ("num_bits", "alice", "errors")

    def __init__(self, num_bits: int, alice: np.ndarray, errors: np.ndarray):
        self.num_bits = int(num_bits)
        self.alice = np.asarray(alice, dtype=np.uint8)
        self.errors = np.asarray(errors, dtype=np.int64)
        if self.alice.shape != (-(-self.num_bits // 8),):
            raise ValueError(f"PackedKeyPair: alice must hold {-(-self.num_bits // 8)} packed bytes for "
                             f"{self.num_bits} bits, got shape {self.alice.shape}")

    @classmethod
    def of(cls, alice, bob) -> PackedKeyPair:
        """The pair of Alice's and Bob's keys, each a 1-D array of zeros and ones or a :class:`PackedBits`, of one
        length (``ValueError`` otherwise). From :class:`PackedBits` the keys are never unpacked: Bob's differing
        positions are found in the XOR of the packed bytes (the bytes that differ, then their bits)."""
        if isinstance(alice, cls) and bob is None:
            return alice
        sizes = [key.num_bits if isinstance(key, PackedBits) else int(np.shape(key)[0]) for key in (alice, bob)]
        if sizes[0] != sizes[1] or any(np.ndim(key) != 1 for key in (alice, bob) if not isinstance(key, PackedBits)):
            raise ValueError(f"PackedKeyPair.of: alice and bob must be 1-d keys of one length, got {sizes[0]} and "
                             f"{sizes[1]} bits")
        packed = [key.packed() if isinstance(key, PackedBits) else np.packbits(np.asarray(key, dtype=np.uint8))
                  for key in (alice, bob)]
        differ = packed[0] ^ packed[1]
        where = np.flatnonzero(differ)
        rows, bits = np.nonzero(np.unpackbits(differ[where]).reshape(-1, 8))
        return cls(sizes[0], packed[0], where[rows] * 8 + bits)

    @property
    def nbytes(self) -> int:
        """Bytes of the packed key and the error positions."""
        return int(self.alice.nbytes + self.errors.nbytes)

    def alice_bits(self) -> np.ndarray:
        """Alice's key, ``uint8`` zeros and ones (``num_bits`` bytes)."""
        return np.unpackbits(self.alice, count=self.num_bits)

    def bob_bits(self) -> np.ndarray:
        """Bob's key, ``uint8`` zeros and ones (``num_bits`` bytes)."""
        bits = self.alice_bits()
        bits[self.errors] ^= 1
        return bits

    def __repr__(self) -> str:
        return f"PackedKeyPair(<{self.num_bits} bits, {self.errors.size} errors>)"
