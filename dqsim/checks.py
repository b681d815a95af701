"""Argument checks shared by the physics layers (network, protocols).

Every check raises :class:`dqsim.errors.DqsimError` (a ``ValueError``) with
one line: ``"<where>: <name> must be in <range>, got <value>"``, where
``<where>`` is the public function or class that was called, so the message
names the parameter, its value and the allowed range.
"""

from __future__ import annotations

import math
import numbers

from dqsim.errors import DqsimError, toml_repr


def _fmt_bound(value: float) -> str:
    if value == math.inf:
        return "inf"
    if value == -math.inf:
        return "-inf"
    return f"{value:g}"


def check_real(
    where: str,
    name: str,
    value,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
    error: type[DqsimError] = DqsimError,
) -> float:
    """Return ``value`` as a float if it is a real number in the interval.

    The interval is ``[low, high]``, opened at either end by ``low_open`` /
    ``high_open``. NaN is always refused; infinity only with ``allow_inf``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise error(f"{where}: {name} must be a real number in "
                    f"{_real_interval(low, high, low_open, high_open, allow_inf)}, got {value!r}")
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise error(f"{where}: {name} must be a finite number in "
                    f"{_real_interval(low, high, low_open, high_open, allow_inf)}, got {value!r}")
    below = number <= low if low_open else number < low
    above = number >= high if high_open else number > high
    if below or above:
        raise error(f"{where}: {name} must be in {_real_interval(low, high, low_open, high_open, allow_inf)}, "
                    f"got {value!r}")
    return number


def _real_interval(low: float, high: float, low_open: bool, high_open: bool, allow_inf: bool = False) -> str:
    """The interval of :func:`check_real` as its messages write it, e.g. ``[0, 1)`` (formatted only for an error:
    the checks run per batch in the QKD sampler, where formatting it every time cost more than the check); an
    infinite bound is closed where ``allow_inf`` takes it (``(0, inf]``: since 2026-12-07 (night), before ``(0,
    inf)`` where ``t1_s = inf`` was accepted).

    Examples:
        >>> _real_interval(0.0, math.inf, True, False), _real_interval(0.0, math.inf, True, False, allow_inf=True)
        ('(0, inf)', '(0, inf]')
    """
    lo_bracket = "(" if low_open or (low == -math.inf and not allow_inf) else "["
    hi_bracket = ")" if high_open or (high == math.inf and not allow_inf) else "]"
    return f"{lo_bracket}{_fmt_bound(low)}, {_fmt_bound(high)}{hi_bracket}"


def picosecond_hint(key: Any, value: Any) -> str:
    """`` (KEY is in picoseconds: ...)`` for a fraction below 1 given to a ``*_ps`` key (seconds, most likely), else ``""``.

    Examples:
        >>> print(picosecond_hint("gate_width_ps", 1e-9))
         (gate_width_ps is in picoseconds, an integer: 1 ns = 1_000, 1 µs = 1_000_000, 1 s = 1_000_000_000_000)
        >>> picosecond_hint("gate_width_ps", 1500.5), picosecond_hint("distance_km", 1e-9)
        ('', '')
    """
    if not (isinstance(key, str) and key.endswith("_ps") and isinstance(value, float) and 0.0 < abs(value) < 1.0):
        return ""
    return f" ({key} is in picoseconds, an integer: 1 ns = 1_000, 1 µs = 1_000_000, 1 s = 1_000_000_000_000)"


def check_int(
    where: str,
    name: str,
    value,
    low: int | None = None,
    high: int | None = None,
    *,
    error: type[DqsimError] = DqsimError,
) -> int:
    """Return ``value`` if it is an integer in ``[low, high]`` (``None``: unbounded)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or (low is not None and value < low) or (high is not None and value > high)):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        interval = f"{'(' if low is None else '['}{lo}, {hi}{')' if high is None else ']'}"
        raise error(f"{where}: {name} must be an integer in {interval}, got {value!r}"
                    f"{picosecond_hint(name, value)}")
    return int(value)


def check_choice(
    where: str,
    name: str,
    value,
    choices: tuple[str, ...],
    *,
    error: type[DqsimError] = DqsimError,
) -> str:
    """Return ``value`` if it is one of ``choices``.

    The message quotes the choices as a job file writes them (``"co"``), like the job-file errors.
    """
    if value not in choices:
        allowed = ", ".join(toml_repr(c) for c in choices)
        raise error(f"{where}: {name} must be one of {allowed}, got {toml_repr(value)}")
    return value
