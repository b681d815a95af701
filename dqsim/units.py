"""Unit conversions, done once where a value enters dqsim.

Inside the engine time is an integer number of picoseconds; lengths are
kilometres; losses are decibels. Model code never contains a bare power of
ten: it calls these helpers or uses these constants.
"""

from __future__ import annotations

import math

PS_PER_S = 10**12
PS_PER_NS = 10**3
PS_PER_US = 10**6
PS_PER_MS = 10**9
M_PER_KM = 1000.0
BYTES_PER_KIB = 1 << 10
BYTES_PER_MIB = 1 << 20
BYTES_PER_GIB = 1 << 30

#: Speed of light in vacuum, metres per second (exact, SI definition).
SPEED_OF_LIGHT_M_PER_S = 299_792_458.0


def seconds_to_ps(seconds: float) -> int:
    """Convert seconds to integer picoseconds (rounded to nearest).

    Examples:
        >>> seconds_to_ps(1.5e-9)
        1500
    """
    if not math.isfinite(seconds):
        raise ValueError(f"seconds must be finite, got {seconds!r}")
    return int(round(seconds * PS_PER_S))


def ps_to_seconds(ps: int) -> float:
    """Convert picoseconds to seconds.

    Examples:
        >>> ps_to_seconds(2_000_000_000_000)
        2.0
    """
    return ps / PS_PER_S


def db_to_transmittance(loss_db: float) -> float:
    """Fraction of power kept after ``loss_db`` decibels of loss: 10^(-loss/10).

    Examples:
        >>> db_to_transmittance(10.0)
        0.1
    """
    return 10.0 ** (-loss_db / 10.0)


def dbm_to_watts(power_dbm: float) -> float:
    """Convert optical power from dBm to watts: 1 mW · 10^(P/10).

    Examples:
        >>> round(dbm_to_watts(0.0), 6)
        0.001
    """
    return 1e-3 * 10.0 ** (power_dbm / 10.0)


def mib_to_bytes(mib: float) -> int:
    """Convert mebibytes to bytes."""
    return int(mib * BYTES_PER_MIB)


def size_words(num_bytes: float) -> str:
    """A size in bytes as a person reads it, in binary units: KiB below 1 MiB, MiB below 1 GiB, else GiB; one
    decimal, two in GiB (a register of 32.69 GiB against a node's 32). The one format of sizes in dqsim's lines:
    ``dqsim check``'s memory and checkpoint sizes, and the files of a write that found no room
    (:mod:`dqsim.io`, :mod:`dqsim.engine.checkpoint`).

    Examples:
        >>> size_words(200), size_words(150_000), size_words(3 * 2**20), size_words(5 * 2**30)
        ('0.2 KiB', '146.5 KiB', '3.0 MiB', '5.00 GiB')
    """
    if num_bytes < BYTES_PER_MIB:
        return f"{num_bytes / BYTES_PER_KIB:,.1f} KiB"
    if num_bytes < BYTES_PER_GIB:
        return f"{num_bytes / BYTES_PER_MIB:,.1f} MiB"
    return f"{num_bytes / BYTES_PER_GIB:,.2f} GiB"


#: Name suffix -> unit, longest first (the first that matches wins).
SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_bits_per_pulse", "bit/pulse"),
    ("_bits_per_s", "bit/s"),
    ("_db_per_km", "dB/km"),
    ("_per_ps", "1/ps"),
    ("_per_s", "1/s"),
    ("_bits", "bit"),
    ("_dbm", "dBm"),
    ("_db", "dB"),
    ("_hz", "Hz"),
    ("_km", "km"),
    ("_nm", "nm"),
    ("_mw", "mW"),
    ("_ps", "ps"),
    ("_ns", "ns"),
    ("_us", "us"),
    ("_ms", "ms"),
    ("_s", "s"),
    ("_mib", "MiB"),
    ("_bytes", "B"),
)
#: Whole column names that are a unit's name.
NAME_UNITS = {"seconds": "s", "bytes": "B"}


def column_unit(name: str) -> str | None:
    """The unit a name carries (a table's column, a job file's key), or None.

    Examples:
        >>> column_unit("key_rate_bits_per_s"), column_unit("distance_km"), column_unit("seconds")
        ('bit/s', 'km', 's')
        >>> column_unit("qber_signal") is None
        True
    """
    if name in NAME_UNITS:
        return NAME_UNITS[name]
    for suffix, unit in SUFFIX_UNITS:
        if name.endswith(suffix) and len(name) > len(suffix):
            return unit
    return None
