"""How Python values become HDF5 attributes and datasets, and back.

Attributes: strings, numbers, booleans and NumPy arrays are stored natively.
``dict``, ``list``, ``tuple`` and ``None`` values are stored as JSON strings;
their names are listed (as JSON) in the object's ``json_attrs`` attribute so a
reader can decode exactly those and no others.

Datasets: NumPy ``str`` data (``U`` fields, or object fields holding ``str``)
become variable-length UTF-8 HDF5 strings, and read back here as NumPy ``str``
arrays (plain ``h5py`` gives such a field of a compound dataset as ``bytes``:
its ``.asstr()`` applies to string datasets only). Files of earlier versions hold fixed-length UTF-8 strings; they
read back the same.
"""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
import json
import math
import os
from typing import Any, Mapping

import h5py
import numpy as np

from dqsim.errors import DqsimError
from dqsim.io import hashing

#: Attribute listing which attributes of an object hold JSON.
JSON_ATTRS_KEY = "json_attrs"

#: The HDF5 type of every string in a table: variable-length UTF-8.
STRING_DTYPE = h5py.string_dtype("utf-8")

def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode_attrs(target: h5py.AttributeManager, values: Mapping[str, Any], *, where: str) -> None:
    """Store ``values`` as HDF5 attributes of ``target``.

    Args:
        target: an object's ``.attrs``.
        values: attribute name -> value (str, int, float, bool, NumPy scalar or
            array, ``os.PathLike``; dict/list/tuple/None are stored as JSON).
        where: the object's path, for error messages.

    Raises:
        ValueError: a name is reserved or a value cannot be stored.
    """
    json_keys = set(json.loads(_as_str(target[JSON_ATTRS_KEY]))) if JSON_ATTRS_KEY in target else set()
    for key, value in values.items():
        if not isinstance(key, str) or not key or key == JSON_ATTRS_KEY:
            raise ValueError(f"attribute name {key!r} of {where} is reserved or not a non-empty string")
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if value is None or isinstance(value, (dict, list, tuple)):
            try:
                text = json.dumps(value, default=_json_default, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"attribute {where}:{key} cannot be stored as JSON ({exc})") from None
            target[key] = text
            json_keys.add(key)
            continue
        json_keys.discard(key)
        if isinstance(value, (str, bool, int, float, np.generic)):
            if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value < 2**64:
                raise ValueError(f"attribute {where}:{key} = {value} does not fit in 64 bits")
            target[key] = value
        elif isinstance(value, np.ndarray):
            target[key] = to_storable(value) if value.dtype.kind in "UO" else value
        else:
            raise ValueError(f"attribute {where}:{key} has type {type(value).__name__}; "
                             "allowed str, int, float, bool, NumPy arrays, dict, list, None")
    if json_keys:
        target[JSON_ATTRS_KEY] = json.dumps(sorted(json_keys))
    elif JSON_ATTRS_KEY in target:
        del target[JSON_ATTRS_KEY]


def decode_attrs(source: h5py.AttributeManager) -> dict[str, Any]:
    """Read attributes written by :func:`encode_attrs` back into Python values."""
    raw = {key: source[key] for key in source.keys()}
    json_keys = set(json.loads(_as_str(raw.pop(JSON_ATTRS_KEY, "[]"))))
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in json_keys:
            out[key] = json.loads(_as_str(value))
        elif isinstance(value, bytes):
            out[key] = value.decode("utf-8", errors="replace")
        elif isinstance(value, np.generic):
            out[key] = value.item()
        elif isinstance(value, np.ndarray) and value.dtype.kind in "OS":
            out[key] = np.array([_as_str(v) for v in value.ravel()], dtype=str).reshape(value.shape)
        else:
            out[key] = value
    return out


def _as_str(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _encode_strings(values: np.ndarray, where: str) -> np.ndarray:
    """A ``U`` or object-of-str array as variable-length UTF-8 strings (h5py string dtype)."""
    if values.dtype.kind == "O":
        for v in values.ravel():
            if not isinstance(v, str):
                raise ValueError(f"{where}: object data must hold str, found {type(v).__name__}")
    return values.astype(STRING_DTYPE)


def to_storable(array: np.ndarray, where: str = "table") -> np.ndarray:
    """``array`` with every str field or element converted to UTF-8 HDF5 strings.

    Examples:
        >>> a = np.array([("00", 3), ("11", 5)], dtype=[("bitstring", "U2"), ("count", "i8")])
        >>> stored = to_storable(a)
        >>> stored.dtype.names, stored["bitstring"].tolist(), h5py.check_string_dtype(stored.dtype["bitstring"])
        (('bitstring', 'count'), ['00', '11'], string_info(encoding='utf-8', length=None))
    """
    array = np.asarray(array)
    if array.dtype.names is None:
        return _encode_strings(array, where) if array.dtype.kind in "UO" else array
    if not any(array.dtype[name].base.kind in "UO" for name in array.dtype.names):
        return array
    fields, converted = [], {}
    for name in array.dtype.names:
        field_dtype = array.dtype[name]
        if field_dtype.base.names is not None:
            raise ValueError(f"{where}.{name}: nested compound fields are not supported")
        if field_dtype.base.kind in "UO":
            converted[name] = _encode_strings(array[name], f"{where}.{name}")
            fields.append((name, converted[name].dtype, field_dtype.shape))
        else:
            converted[name] = array[name]
            fields.append((name, field_dtype))
    out = np.empty(array.shape, dtype=fields)
    for name in array.dtype.names:
        out[name] = converted[name]
    return out


def _decode_strings(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "O":
        strings = [_as_str(v) for v in values.ravel()]
        return np.array(strings or [""], dtype=str)[:len(strings)].reshape(values.shape)
    if values.size == 0:
        return values.astype("U1")
    return np.char.decode(values, "utf-8")


def from_stored(array: np.ndarray, stored_dtype: np.dtype) -> np.ndarray:
    """Undo :func:`to_storable`: HDF5 string fields (fixed or variable length) become ``str``."""
    if stored_dtype.names is None:
        return _decode_strings(array) if h5py.check_string_dtype(stored_dtype) else array
    string_fields = [name for name in stored_dtype.names
                     if h5py.check_string_dtype(stored_dtype[name].base) is not None]
    if not string_fields:
        return array
    fields, converted = [], {}
    for name in stored_dtype.names:
        if name in string_fields:
            converted[name] = _decode_strings(array[name])
            fields.append((name, converted[name].dtype, stored_dtype[name].shape))
        else:
            converted[name] = array[name]
            fields.append((name, stored_dtype[name]))
    out = np.empty(array.shape, dtype=fields)
    for name in stored_dtype.names:
        out[name] = converted[name]
    return out


class Checksum:
    """A checksum of an array's little-endian bytes, fed piece by piece (:mod:`dqsim.io.hashing`).

    ``algorithm``: ``sha256`` or ``xxh3_128`` (``None``: :func:`~dqsim.io.hashing.default_algorithm`);
    :meth:`hexdigest` names it (``"xxh3_128:<hex>"``), and :meth:`matching` makes the checksum that a
    recorded digest is compared with. With ``background=True`` each piece is
    hashed on a helper thread while the caller goes on (writes or reads the
    next piece: hashlib and xxhash release the GIL for large buffers, so the
    hash overlaps the I/O). :meth:`update` first waits for the previous
    piece, so at most one piece is being hashed: the caller may reuse a
    buffer two pieces later. With ``crc=True`` the CRC-32 of the same bytes
    is kept too (:attr:`crc32`): the read-back check of a part written
    through parallel HDF5 (:mod:`dqsim.io.sharded`).

    Examples:
        >>> c = Checksum(algorithm="sha256")
        >>> c.update(np.arange(2, dtype=np.complex128)); c.update(np.arange(2, 4, dtype=np.complex128))
        >>> c.hexdigest() == Checksum.of(np.arange(4, dtype=np.complex128), algorithm="sha256")
        True
        >>> b = Checksum(background=True, algorithm="sha256")
        >>> b.update(np.arange(4, dtype=np.complex128)); b.hexdigest() == c.hexdigest()
        True
        >>> c.hexdigest()[:7]
        'sha256:'
    """

    def __init__(self, *, background: bool = False, crc: bool = False, algorithm: str | None = None):
        self.algorithm = hashing.default_algorithm() if algorithm is None else algorithm
        self._hash = hashing.new(self.algorithm)
        self._crc = 0 if crc else None
        self._worker = ThreadPoolExecutor(max_workers=1) if background else None
        self._pending = None

    @classmethod
    def matching(cls, recorded: str, *, where: str = "checksum", background: bool = False) -> "Checksum":
        """The checksum to compare with the recorded ``"<algorithm>:<hex>"`` (``where`` names it in errors).

        Raises:
            DqsimError: ``recorded`` is malformed, or its algorithm cannot be computed here.
        """
        try:
            algorithm, _ = hashing.split_digest(recorded)
        except ValueError:
            algorithm = recorded.partition(":")[0] if isinstance(recorded, str) else ""
            hashing.require(algorithm, where)  # an unknown algorithm: say so
            raise DqsimError(f"{where}: malformed checksum {recorded!r}") from None
        hashing.require(algorithm, where)
        return cls(background=background, algorithm=algorithm)

    def _feed(self, data) -> None:
        self._hash.update(data)
        if self._crc is not None:
            self._crc = zlib.crc32(data, self._crc)

    def update(self, array: np.ndarray) -> None:
        """Add the bytes of ``array`` (C order, little-endian)."""
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        data = array.reshape(-1).view(np.uint8)
        if self._worker is None:
            self._feed(data)
            return
        self._wait()
        self._pending = self._worker.submit(self._feed, data)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    @property
    def crc32(self) -> int | None:
        """CRC-32 of the bytes so far (``None`` unless made with ``crc=True``)."""
        self._wait()
        return self._crc

    def hexdigest(self) -> str:
        """``"<algorithm>:<hex digest>"`` (waits for a piece still being hashed)."""
        self._wait()
        if self._worker is not None:
            self._worker.shutdown()
            self._worker = None
        return f"{self.algorithm}:{self._hash.hexdigest()}"

    @classmethod
    def of(cls, array: np.ndarray, *, algorithm: str | None = None) -> str:
        """The checksum of one array."""
        c = cls(algorithm=algorithm)
        c.update(array)
        return c.hexdigest()


def jsonable(value: Any) -> Any:
    """``value`` with NumPy types, bytes and non-finite floats made JSON-safe.

    Non-finite floats become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
    complex numbers become ``[real, imag]``.

    Examples:
        >>> jsonable({"a": np.int64(3), "b": np.array([1.5, np.inf]), "c": b"x", "d": 1j})
        {'a': 3, 'b': [1.5, 'Infinity'], 'c': 'x', 'd': [0.0, 1.0]}
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, complex):
        return [jsonable(value.real), jsonable(value.imag)]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value
