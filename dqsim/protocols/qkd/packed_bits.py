"""A growing string of key bits held eight to a byte (:class:`PackedBits`).

A key block's sifted key bits arrive batch by batch and are needed only at
the block's end (Cascade, the verification hash, privacy amplification),
so Alice keeps them packed in between: one bit per key bit instead of the
byte per bit of a ``uint8`` array. Exact: :meth:`PackedBits.unpacked` gives
back the bits appended, in order, as ``uint8`` zeros and ones.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PackedBits"]


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
