"""Syndrome decoding of LDPC codes by normalized min-sum belief propagation, compiled and in NumPy.

:func:`dqsim.protocols.qkd.ldpc.reconcile` sends Alice's syndrome ``s = H·x_A``
and Bob decodes the error pattern ``e = x_A XOR x_B`` from ``s XOR H·x_B``
and his channel log-likelihood ratios (LLRs). The decoder is flooding
normalized min-sum (J. Chen and M. P. C. Fossorier, "Near optimum universal
belief propagation based decoding of low-density parity check codes", IEEE
Trans. Commun. 50, 406 (2002)) with the target syndrome in the check-node
sign (D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, ISIT 2009, Sec. II):

* check to variable: ``m_cv = (-1)^(s_c) · Π_{v'≠v} sign(m_v'c) · α · min_{v'≠v} |m_v'c|``
* variable total: ``L_v = L_v^ch + Σ_c m_cv``; variable to check ``m_vc = L_v - m_cv``;
  the hard decision is ``e_v = [L_v < 0]``, and decoding stops when ``H·e = s``.

The graph is given check by check (``check_start``, ``edge_var``: the edges of
check c are ``check_start[c]:check_start[c+1]``). :func:`min_sum_decode` runs the
compiled loop where numba is (:func:`has_min_sum`) and :func:`min_sum_decode_numpy`
otherwise; they perform the same floating-point operations in the same order
(minima and signs are exact; the variable sums add the check messages in edge
order, as ``np.bincount`` does, and then the channel LLR), so they give the same
decisions and iteration counts bit for bit (``tests/test_qkd_ldpc.py``).
"""

from __future__ import annotations

import numpy as np

from dqsim.backend.fast import enabled

try:
    import numba as _numba
except ImportError:  # the caller falls back to NumPy
    _numba = None

__all__ = ["has_min_sum", "min_sum_decode", "min_sum_decode_numpy"]


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_min_sum(check_start, edge_var, syndrome, channel, alpha, max_iterations):
        num_checks = check_start.size - 1
        num_vars = channel.size
        num_edges = edge_var.size
        v2c = np.empty(num_edges, dtype=np.float64)
        c2v = np.zeros(num_edges, dtype=np.float64)
        for e in range(num_edges):
            v2c[e] = channel[edge_var[e]]
        total = np.empty(num_vars, dtype=np.float64)
        hard = np.zeros(num_vars, dtype=np.uint8)
        for iteration in range(1, max_iterations + 1):
            for c in range(num_checks):
                lo, hi = check_start[c], check_start[c + 1]
                min1 = np.inf
                min2 = np.inf
                where = lo
                parity = syndrome[c]
                for e in range(lo, hi):
                    value = v2c[e]
                    magnitude = abs(value)
                    if value < 0.0:
                        parity ^= 1
                    if magnitude < min1:
                        min2 = min1
                        min1 = magnitude
                        where = e
                    elif magnitude < min2:
                        min2 = magnitude
                for e in range(lo, hi):
                    out = alpha * (min2 if e == where else min1)
                    sign = parity ^ (1 if v2c[e] < 0.0 else 0)
                    c2v[e] = -out if sign else out
            for v in range(num_vars):
                total[v] = 0.0
            for e in range(num_edges):
                total[edge_var[e]] += c2v[e]
            for v in range(num_vars):
                total[v] = channel[v] + total[v]
                hard[v] = 1 if total[v] < 0.0 else 0
            for e in range(num_edges):
                v2c[e] = total[edge_var[e]] - c2v[e]
            solved = True
            for c in range(num_checks):
                parity = syndrome[c]
                for e in range(check_start[c], check_start[c + 1]):
                    parity ^= hard[edge_var[e]]
                if parity:
                    solved = False
                    break
            if solved:
                return hard, iteration, True
        return hard, max_iterations, False


def has_min_sum() -> bool:
    """True when :func:`min_sum_decode` runs compiled (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def _checked(check_start, edge_var, syndrome, channel):
    return (np.ascontiguousarray(check_start, dtype=np.int64), np.ascontiguousarray(edge_var, dtype=np.int64),
            np.ascontiguousarray(syndrome, dtype=np.uint8), np.ascontiguousarray(channel, dtype=np.float64))


def min_sum_decode(check_start: np.ndarray, edge_var: np.ndarray, syndrome: np.ndarray, channel: np.ndarray,
                   alpha: float, max_iterations: int) -> tuple[np.ndarray, int, bool]:
    """Decode the error pattern whose syndrome is ``syndrome`` by normalized min-sum (module docstring).

    Args:
        check_start: int64, ``num_checks + 1`` offsets of each check's edges (every check has >= 1 edge).
        edge_var: int64, the variable of each edge, check by check.
        syndrome: uint8 0/1, the target syndrome, one per check.
        channel: float64, the channel LLR ``log(P(e_v = 0) / P(e_v = 1))`` of each variable.
        alpha: normalization of the check messages, in (0, 1].
        max_iterations: most flooding iterations, >= 1.

    Returns:
        ``(e, iterations, converged)``: the decided pattern (uint8), the iterations run, and whether
        ``H·e`` equals the syndrome. Compiled where :func:`has_min_sum`, else
        :func:`min_sum_decode_numpy` (the same result).
    """
    args = _checked(check_start, edge_var, syndrome, channel)
    if not has_min_sum():
        return min_sum_decode_numpy(*args, alpha, max_iterations)
    hard, iterations, converged = _numba_min_sum(*args, float(alpha), int(max_iterations))
    return hard, int(iterations), bool(converged)


def min_sum_decode_numpy(check_start: np.ndarray, edge_var: np.ndarray, syndrome: np.ndarray, channel: np.ndarray,
                         alpha: float, max_iterations: int) -> tuple[np.ndarray, int, bool]:
    """:func:`min_sum_decode` in NumPy (the reference; the path without numba): the same arguments and result.

    Examples:
        >>> start = np.array([0, 2, 4]); var = np.array([0, 1, 1, 2])      # checks x0+x1, x1+x2
        >>> e, it, ok = min_sum_decode_numpy(start, var, np.array([1, 1], np.uint8),
        ...                                  np.array([2.0, 1.0, 2.0]), 0.8, 10)
        >>> e.tolist(), ok
        ([0, 1, 0], True)
    """
    check_start, edge_var, syndrome, channel = _checked(check_start, edge_var, syndrome, channel)
    starts = check_start[:-1]
    degree = np.diff(check_start)
    edge_check = np.repeat(np.arange(starts.size), degree)
    num_vars = channel.size
    v2c = channel[edge_var]
    for iteration in range(1, max_iterations + 1):
        magnitude = np.abs(v2c)
        negative = v2c < 0.0
        min1 = np.minimum.reduceat(magnitude, starts)
        at_min = magnitude == min1[edge_check]
        # the first edge at the minimum gets the minimum of the others (min2); every other edge gets min1
        seen = np.cumsum(at_min)
        before = seen[starts] - at_min[starts]
        first = at_min & (seen - np.repeat(before, degree) == 1)
        min2 = np.minimum.reduceat(np.where(first, np.inf, magnitude), starts)
        out = alpha * np.where(first, min2[edge_check], min1[edge_check])
        parity = (np.add.reduceat(negative.astype(np.int64), starts) & 1).astype(np.uint8) ^ syndrome
        flip = (parity[edge_check] ^ negative.astype(np.uint8)).astype(bool)
        c2v = np.where(flip, -out, out)
        total = channel + np.bincount(edge_var, weights=c2v, minlength=num_vars)
        hard = (total < 0.0).astype(np.uint8)
        v2c = total[edge_var] - c2v
        if not (np.bitwise_xor.reduceat(hard[edge_var], starts) ^ syndrome).any():
            return hard, iteration, True
    return hard, max_iterations, False
