"""Bounded caches of values made once and reused: the one piece of code behind dqsim's kept results that are not
keyed by hashable arguments alone (``functools.lru_cache`` serves those).

* :func:`kept` — ``cache[key]``, made where missing, the oldest entry dropped once the cache is full (first in,
  first out: a hit does not move an entry). Used by gate fusion's fused blocks
  (:func:`dqsim.circuit.fusion._block_op`) and by the ``cloud`` scenario's networks of QPU sets and plans
  (:func:`dqsim.scenarios.cloud.plan_of`).
"""

from __future__ import annotations

from typing import Callable, TypeVar

__all__ = ["kept"]

T = TypeVar("T")


def kept(cache: dict, key, make: Callable[[], T], limit: int) -> T:
    """``cache[key]``, made by ``make()`` and kept where missing; the oldest entry goes first once ``cache``
    holds ``limit``. A ``make()`` that raises keeps nothing.

    Examples:
        >>> cache = {}
        >>> kept(cache, "a", lambda: 1, 2), kept(cache, "b", lambda: 2, 2), kept(cache, "a", lambda: 9, 2)
        (1, 2, 1)
        >>> kept(cache, "c", lambda: 3, 2), sorted(cache)
        (3, ['b', 'c'])
    """
    value = cache.get(key)
    if value is None:
        value = make()
        if len(cache) >= limit:
            del cache[next(iter(cache))]  # the oldest
        cache[key] = value
    return value
