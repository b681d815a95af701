"""The ``units`` attribute of a table: one unit per column that has one.

Every record table dqsim writes carries an attribute ``units``, a mapping
column -> unit (stored as JSON, decoded back to a ``dict`` by the reader),
with an entry for every column that has a unit and none for counts, indices,
ratios and text. Units come from the column's name, which carries them
(``distance_km``, ``time_ps``, ``key_rate_bits_per_s``: see
:data:`dqsim.units.SUFFIX_UNITS`); a scenario adds the units of columns whose names
cannot say them (``time`` of a spin model: ``1/energy (hbar = 1)``).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from dqsim.units import NAME_UNITS, SUFFIX_UNITS, column_unit  # noqa: F401  (re-exported: names' units)


def table_units(dtype: np.dtype, given: Any = None, *, where: str = "table") -> dict[str, str]:
    """The ``units`` attribute of a record table: units from the names, then those ``given``.

    Args:
        dtype: the table's structured dtype.
        given: column -> unit for columns whose names carry none (or to override one).
        where: the table's name, for errors.

    Raises:
        ValueError: ``given`` is not a mapping of column names to strings.

    Examples:
        >>> dtype = np.dtype([("time", "f8"), ("time_ps", "i8"), ("site", "i8")])
        >>> table_units(dtype, {"time": "1/energy"})
        {'time': '1/energy', 'time_ps': 'ps'}
    """
    if given is not None and not isinstance(given, Mapping):
        raise ValueError(f"{where}: attribute units must map column names to units, got {given!r}")
    given = dict(given or {})
    names = dtype.names or ()
    unknown = sorted(set(given) - set(names))
    if unknown or not all(isinstance(v, str) for v in given.values()):
        raise ValueError(f"{where}: units given for {unknown or list(given)}; allowed: str units of the columns "
                         f"{', '.join(names)}")
    units = {}
    for name in names:
        unit = given.get(name) or column_unit(name)
        if unit:
            units[name] = unit
    return units
