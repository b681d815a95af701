"""The checksums dqsim stores: which algorithms, and every stored digest naming its own.

Two algorithms, for detecting damage (a flipped bit, a truncated or swapped
file), not forgery (anyone who can rewrite a file can rewrite its manifest):

* ``sha256`` (:mod:`hashlib`, always there): about 1.8 GB/s on one core
  with the SHA extensions, about as fast as a local disk writes, so hashing
  a state vector costs as much as writing it when the two do not overlap;
* ``xxh3_128`` (the PyPI package ``xxhash``, the extra ``fast-checksums``):
  XXH3's 128-bit variant, non-cryptographic, tens of GB/s on one core (its
  collision probability for random damage, 2^-128, is that of SHA-256 in
  practice).

New files use :func:`default_algorithm`: ``xxh3_128`` where ``xxhash`` is
installed, else ``sha256``, or what ``DQSIM_CHECKSUM`` names. Every digest
dqsim stores names its algorithm (``"sha256:<hex>"`` in HDF5 attributes, a
``hash`` key in manifest entries), so files of either kind, and files written
before ``xxh3_128`` existed (all ``sha256``), are read by any dqsim that has
the algorithm; one without ``xxhash`` refuses an ``xxh3_128`` file in one line
(:func:`require`).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from dqsim.errors import DqsimError

try:  # optional: pip install 'dqsim[fast-checksums]'
    import xxhash
except ImportError:  # pragma: no cover - depends on the environment
    xxhash = None

SHA256 = "sha256"
XXH3_128 = "xxh3_128"

#: Every algorithm dqsim knows, with its hex digest's length and how messages name it.
ALGORITHMS = {SHA256: (64, "SHA-256"), XXH3_128: (32, "XXH3-128")}

#: Environment variable: the algorithm new files use (``sha256`` or ``xxh3_128``; unset: :func:`default_algorithm`).
CHECKSUM_ENV = "DQSIM_CHECKSUM"


def available(algorithm: str) -> bool:
    """Whether this Python can compute ``algorithm`` (``xxh3_128`` needs the package ``xxhash``)."""
    return algorithm == SHA256 or (algorithm == XXH3_128 and xxhash is not None)


def default_algorithm() -> str:
    """The algorithm new checksums use: ``DQSIM_CHECKSUM`` if set, else ``xxh3_128`` where ``xxhash`` is
    installed, else ``sha256``.

    Raises:
        DqsimError: ``DQSIM_CHECKSUM`` names an unknown algorithm, or one this Python lacks.
    """
    wanted = os.environ.get(CHECKSUM_ENV, "").strip()
    if not wanted:
        return XXH3_128 if xxhash is not None else SHA256
    if wanted not in ALGORITHMS:
        raise DqsimError(f"{CHECKSUM_ENV} = {wanted!r}: allowed {', '.join(ALGORITHMS)}")
    require(wanted, CHECKSUM_ENV)
    return wanted


def require(algorithm: str, where: str) -> None:
    """Raise one line when ``algorithm`` (named by ``where``: a file, a variable) cannot be computed here.

    Examples:
        >>> require("sha256", "x.h5")
        >>> try:
        ...     require("md5", "x.h5")
        ... except DqsimError as exc:
        ...     print(exc)
        x.h5: checksum algorithm 'md5' is not one dqsim knows (sha256, xxh3_128)
    """
    if algorithm not in ALGORITHMS:
        raise DqsimError(f"{where}: checksum algorithm {algorithm!r} is not one dqsim knows "
                         f"({', '.join(ALGORITHMS)})")
    if not available(algorithm):
        raise DqsimError(f"{where}: its checksums are {algorithm}, which needs the Python package xxhash "
                         "(pip install 'dqsim[fast-checksums]')")


def new(algorithm: str) -> Any:
    """A fresh hash object of ``algorithm`` (``update(bytes)``, ``hexdigest()``); see :func:`require`."""
    if algorithm == SHA256:
        return hashlib.sha256()
    require(algorithm, "checksum")
    return xxhash.xxh3_128()


def display_name(algorithm: str) -> str:
    """How messages name ``algorithm`` (``SHA-256``, ``XXH3-128``)."""
    return ALGORITHMS.get(algorithm, (0, algorithm))[1]


def is_hex_digest(algorithm: str, text: Any) -> bool:
    """Whether ``text`` is a lower-case hex digest of ``algorithm``'s length.

    Examples:
        >>> is_hex_digest("xxh3_128", "0" * 32), is_hex_digest("sha256", "0" * 32)
        (True, False)
    """
    return (isinstance(text, str) and algorithm in ALGORITHMS and len(text) == ALGORITHMS[algorithm][0]
            and all(c in "0123456789abcdef" for c in text))


def split_digest(text: Any) -> tuple[str, str]:
    """``"<algorithm>:<hex>"`` as ``(algorithm, hex)``; raise ValueError for anything else.

    Examples:
        >>> split_digest("xxh3_128:" + "ab" * 16)[0]
        'xxh3_128'
        >>> split_digest("md5:00")
        Traceback (most recent call last):
        ...
        ValueError: checksum 'md5:00': expected '<algorithm>:<hex digest>' with algorithm sha256 or xxh3_128
    """
    algorithm, _, digest = text.partition(":") if isinstance(text, str) else ("", "", "")
    if not is_hex_digest(algorithm, digest):
        raise ValueError(f"checksum {text!r}: expected '<algorithm>:<hex digest>' with algorithm "
                         f"{' or '.join(ALGORITHMS)}")
    return algorithm, digest
