"""Syndrome decoding of LDPC codes by sum-product belief propagation, compiled and in NumPy.

:func:`dqsim.protocols.qkd.ldpc.reconcile` sends Alice's syndrome ``s = H·x_A``
and Bob decodes the error pattern ``e = x_A XOR x_B`` from ``s XOR H·x_B``
and his channel log-likelihood ratios (LLRs). The decoder is flooding
sum-product in the log domain (F. R. Kschischang, B. J. Frey, H.-A. Loeliger,
"Factor graphs and the sum-product algorithm", IEEE Trans. Inf. Theory 47, 498
(2001); T. Richardson, R. Urbanke, *Modern Coding Theory*, Sec. 2.5) with the
target syndrome in the check-node sign (D. Elkouss, A. Leverrier, R. Alléaume,
J. J. Boutros, ISIT 2009, Sec. II):

* check to variable: ``m_cv = (-1)^(s_c) · Π_{v'≠v} sign(m_v'c) · φ(Σ_{v'≠v} φ(|m_v'c|))`` with
  ``φ(x) = -ln tanh(x/2)`` (its own inverse), the sum taken as the check's whole sum less v's term;
* variable total: ``L_v = L_v^ch + Σ_c m_cv``; variable to check ``m_vc = L_v - m_cv``;
  the hard decision is ``e_v = [L_v < 0]``, and decoding stops when ``H·e = s``.

φ is read from a table (:data:`PHI_TABLE`: φ at the middle of each step of
1/:data:`PHI_SCALE`, up to :data:`PHI_MAX_INPUT`), so the compiled loop and NumPy
need no transcendental function whose last bit could differ between them.
(Until 2026-12-06 the decoder was normalized min-sum: with the optimised
irregular codes of :mod:`dqsim.protocols.qkd.ldpc`, min-sum failed every frame
of a rate-0.5 code of 16,384 bits at a QBER of 8 %, sum-product none; dev VM.)

**Schedules.** *Flooding* (``layers=None``) updates every check from the
previous iteration's variable messages, then every variable. *Layered*
(row-serial, "turbo-decoding message passing": M. M. Mansour, N. R.
Shanbhag, "High-throughput LDPC decoders", IEEE Trans. VLSI Syst. 11, 976
(2003); D. E. Hocevar, "A reduced complexity decoder architecture via layered
decoding of LDPC codes", IEEE SiPS 2004) keeps each variable's total
``L_v`` and takes the checks one after the other: a check reads
``m_vc = L_v - m_cv`` from the totals as the checks before it left them,
computes its new ``m_cv`` as above and puts them straight into the totals
(``L_v = m_vc + m_cv``), so information crosses the graph within an
iteration and the decoder converges in about half the iterations of flooding
(Hocevar's measurement; ours: 0.53-0.60 of flooding's iterations on frames
that decode, keys of 100,000 bits at QBER 1-8 %,
``bench/results/qkd-ldpc-layered-vm-20261207.md``) for about the same work an
iteration. The checks are taken layer by layer
(:func:`check_layers`: no two checks of a layer share a variable), so the
NumPy decoder can update a whole layer at once with the compiled loop's
result; an iteration is one pass over all checks, then the hard decisions and
their syndrome.

The graph is given check by check (``check_start``, ``edge_var``: the edges of
check c are ``check_start[c]:check_start[c+1]``). :func:`sum_product_decode`
runs the compiled loop where numba is (:func:`has_sum_product`) and
:func:`sum_product_decode_numpy` otherwise; they perform the same floating-point
operations in the same order (the table look-ups; the check sums and the
variable sums add in edge order, as ``np.bincount`` does, then the channel
LLR), so they give the same decisions and iteration counts bit for bit
(``tests/test_qkd_ldpc.py``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dqsim.backend.fast import enabled

try:
    import numba as _numba
except ImportError:  # the caller falls back to NumPy
    _numba = None

__all__ = ["PHI_TABLE", "CheckLayers", "StallRule", "check_layers", "has_sum_product", "phi", "sum_product_decode",
           "sum_product_decode_numpy"]

#: Steps of φ's table per unit of LLR.
PHI_SCALE = 256.0
#: Inputs at or above this read the table's last entry (φ(24) ≈ 7.6e-11).
PHI_MAX_INPUT = 24.0
#: ``φ((i + 1/2)/PHI_SCALE)`` for ``i = 0 .. PHI_MAX_INPUT·PHI_SCALE - 1``: φ(x) = -ln tanh(x/2), float64.
PHI_TABLE = -np.log(np.tanh((np.arange(int(PHI_MAX_INPUT * PHI_SCALE)) + 0.5) / PHI_SCALE / 2.0))


def phi(x: np.ndarray) -> np.ndarray:
    """φ(x) = -ln tanh(x/2) of x >= 0 from :data:`PHI_TABLE` (the decoders' φ).

    Examples:
        >>> [round(float(v), 3) for v in phi(np.array([0.5, 1.0, 3.0]))]
        [1.403, 0.77, 0.099]
    """
    index = np.minimum((np.asarray(x, dtype=np.float64) * PHI_SCALE).astype(np.int64), PHI_TABLE.size - 1)
    return PHI_TABLE[index]


if _numba is not None:

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_totals(edge_var, c2v, channel, total):
        # L_v = L_v^ch + Σ_c m_cv, the messages added in edge order, then the channel LLR (as np.bincount)
        for e in range(edge_var.size):
            total[edge_var[e]] += c2v[e]
        for v in range(channel.size):
            total[v] = channel[v] + total[v]

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_solved(check_start, edge_var, syndrome, hard):
        # H·hard == syndrome
        for c in range(check_start.size - 1):
            parity = syndrome[c]
            for e in range(check_start[c], check_start[c + 1]):
                parity ^= hard[edge_var[e]]
            if parity:
                return False
        return True

    @_numba.njit(cache=True, boundscheck=False)
    def _numba_sum_product(check_start, edge_var, syndrome, channel, table, scale, max_iterations, c2v, stall,
                           window, most, layered):
        # layered: the checks in their order here (the caller lays them out layer by layer: CheckLayers)
        num_checks = check_start.size - 1
        num_vars = channel.size
        num_edges = edge_var.size
        last = table.size - 1
        v2c = np.empty(num_edges, dtype=np.float64)
        term = np.empty(num_edges, dtype=np.float64)
        total = np.zeros(num_vars, dtype=np.float64)
        # the variable-to-check messages of the given check-to-variable ones (zeros: the channel LLRs)
        _numba_totals(edge_var, c2v, channel, total)
        if not layered:
            for e in range(num_edges):
                v2c[e] = total[edge_var[e]] - c2v[e]
        hard = np.zeros(num_vars, dtype=np.uint8)
        fewest = num_checks + 1
        since = 0
        counts = np.zeros(max_iterations + 1, dtype=np.int64)   # unsatisfied checks of each iteration
        for iteration in range(1, max_iterations + 1):
            unsatisfied = 0
            for c in range(num_checks):
                lo, hi = check_start[c], check_start[c + 1]
                if layered:
                    for e in range(lo, hi):
                        v2c[e] = total[edge_var[e]] - c2v[e]
                whole = 0.0
                parity = syndrome[c]
                for e in range(lo, hi):
                    value = v2c[e]
                    if value < 0.0:
                        parity ^= 1
                    index = int(abs(value) * scale)
                    term[e] = table[index if index < last else last]
                    whole += term[e]
                unsatisfied += parity
                for e in range(lo, hi):
                    rest = whole - term[e]
                    if rest < 0.0:
                        rest = 0.0
                    index = int(rest * scale)
                    out = table[index if index < last else last]
                    sign = parity ^ (1 if v2c[e] < 0.0 else 0)
                    c2v[e] = -out if sign else out
                if layered:
                    for e in range(lo, hi):
                        total[edge_var[e]] = v2c[e] + c2v[e]
            if not layered:
                for v in range(num_vars):
                    total[v] = 0.0
                _numba_totals(edge_var, c2v, channel, total)
                for e in range(num_edges):
                    v2c[e] = total[edge_var[e]] - c2v[e]
            for v in range(num_vars):
                hard[v] = 1 if total[v] < 0.0 else 0
            if _numba_solved(check_start, edge_var, syndrome, hard):
                return hard, iteration, True
            counts[iteration] = unsatisfied
            if stall > 0:
                if unsatisfied < fewest:
                    fewest = unsatisfied
                    since = 0
                else:
                    since += 1
                    # StallRule: no new fewest for `stall` iterations and no fall over the last `window`, or none
                    # for `most`
                    if since >= stall and (window == 0 or (iteration > window
                                                           and unsatisfied >= counts[iteration - window])):
                        return hard, iteration, False
                    if 0 < most <= since:
                        return hard, iteration, False
        return hard, max_iterations, False


class StallRule(NamedTuple):
    """When a decoding attempt gives up before :func:`sum_product_decode`'s ``max_iterations`` (blind
    reconciliation's attempts with punctured values still to reveal, :func:`dqsim.protocols.qkd.ldpc.reconcile`).

    An iteration's unsatisfied checks are those whose incoming message signs miss their syndrome bit. The attempt
    gives up once ``limit`` iterations in a row found no fewer unsatisfied checks than the fewest so far and, where
    ``window`` > 0, the last iteration found no fewer than the iteration ``window`` before it (the count has not
    fallen over the last ``window`` iterations); or, where ``most`` > 0, once ``most`` iterations in a row found
    no fewer than the fewest, falling or not. ``StallRule(limit)`` is the rule of before 2026-12-07 (later): no
    new fewest for ``limit`` iterations; ``limit`` 0 never gives up.

    Attributes:
        limit: iterations without a new fewest before the attempt may give up, >= 0 (0: it never does).
        window: 0, or iterations back the last count is compared with, >= 0.
        most: 0, or iterations without a new fewest after which it gives up whatever the window says, >= 0.
    """

    limit: int
    window: int = 0
    most: int = 0


class CheckLayers(NamedTuple):
    """The order of the checks in a layered iteration, and the graph laid out in it (:func:`check_layers`).

    Attributes:
        order: int64, every check once, layer after layer.
        start: int64, ``num_layers + 1`` offsets into ``order``: layer j is ``order[start[j]:start[j+1]]``.
        edges: int64, the edges in that order (each check's in its own order): the decoders read the graph
            through it, so that a layered pass runs through memory in order (taking the checks of
            ``order`` in place made an iteration of a rate-0.6 code of 16,384 bits 1.7 times as long; dev VM).
        check_start: int64, the checks' edge offsets in ``edges``' numbering.
        edge_var: int64, ``edge_var[edges]``.
        plan: the NumPy decoder's layers, one ``(edge slice, edge_var of those edges, each edge's check's place
            within the layer, checks in the layer, check slice)`` each (views into ``edge_var`` and one array of
            places); only the syndrome depends on the frame, so the plan is built once a code, here (until
            2026-12-07 :func:`sum_product_decode_numpy` rebuilt it on every call).
    """

    order: np.ndarray
    start: np.ndarray
    edges: np.ndarray
    check_start: np.ndarray
    edge_var: np.ndarray
    plan: tuple


def check_layers(check_start: np.ndarray, edge_var: np.ndarray, num_vars: int) -> CheckLayers:
    """Cut the checks into layers in which no two checks share a variable (greedy colouring, in check order).

    Each check, in turn, joins the first layer none of whose checks touches its variables (a bit mask of
    layers per variable). The layered decoder's result depends on the order of the checks only through which
    checks come before which others that share a variable; within a layer the order does not matter, so the
    compiled decoder (one check at a time) and the NumPy one (a layer at a time) agree bit for bit.

    Args:
        check_start: int64, ``num_checks + 1`` edge offsets (module docstring).
        edge_var: int64, the variable of each edge.
        num_vars: n, the variables.

    Returns:
        The :class:`CheckLayers`.

    Examples:
        >>> layers = check_layers(np.array([0, 2, 4, 6]), np.array([0, 1, 1, 2, 3, 4]), 5)  # x0+x1, x1+x2, x3+x4
        >>> layers.order.tolist(), layers.start.tolist(), layers.edges.tolist()
        ([0, 2, 1], [0, 2, 3], [0, 1, 4, 5, 2, 3])
    """
    check_start = np.asarray(check_start, dtype=np.int64)
    edge_var = np.asarray(edge_var, dtype=np.int64).tolist()
    used = [0] * int(num_vars)
    layer_of = []
    for c in range(check_start.size - 1):
        members = edge_var[check_start[c]:check_start[c + 1]]
        mask = 0
        for v in members:
            mask |= used[v]
        layer = (~mask & (mask + 1)).bit_length() - 1       # the lowest layer not in the mask
        bit = 1 << layer
        for v in members:
            used[v] |= bit
        layer_of.append(layer)
    layer_of = np.asarray(layer_of, dtype=np.int64)
    order = np.argsort(layer_of, kind="stable")
    start = np.zeros(int(layer_of.max(initial=-1)) + 2, dtype=np.int64)
    np.cumsum(np.bincount(layer_of, minlength=start.size - 1), out=start[1:])
    sizes = np.diff(check_start)[order]
    laid = np.zeros(order.size + 1, dtype=np.int64)
    np.cumsum(sizes, out=laid[1:])
    edges = np.repeat(check_start[:-1][order] - laid[:-1], sizes) + np.arange(int(laid[-1]), dtype=np.int64)
    laid_var = np.asarray(edge_var, dtype=np.int64)[edges]
    first_of_layer = np.repeat(start[:-1], np.diff(start))          # each laid check's layer's first check
    local = np.repeat(np.arange(order.size, dtype=np.int64) - first_of_layer, sizes)
    plan = []
    for j in range(start.size - 1):
        first, last = int(start[j]), int(start[j + 1])
        lo, hi = int(laid[first]), int(laid[last])
        plan.append((slice(lo, hi), laid_var[lo:hi], local[lo:hi], last - first, slice(first, last)))
    return CheckLayers(order, start, edges, laid, laid_var, tuple(plan))


def has_sum_product() -> bool:
    """True when :func:`sum_product_decode` runs compiled (numba installed, ``DQSIM_FAST_KERNELS`` not ``0``)."""
    return _numba is not None and enabled()


def _checked(check_start, edge_var, syndrome, channel):
    return (np.ascontiguousarray(check_start, dtype=np.int64), np.ascontiguousarray(edge_var, dtype=np.int64),
            np.ascontiguousarray(syndrome, dtype=np.uint8), np.ascontiguousarray(channel, dtype=np.float64))


def _messages(messages, num_edges):
    """The check-to-variable messages to start from and write back: zeros when none are given (a cold start)."""
    if messages is None:
        return np.zeros(num_edges, dtype=np.float64)
    if not (isinstance(messages, np.ndarray) and messages.dtype == np.float64 and messages.shape == (num_edges,)
            and messages.flags.c_contiguous and messages.flags.writeable):
        raise ValueError(f"sum_product_decode: messages must be a writable contiguous float64 array of "
                         f"{num_edges} edges")
    return messages


def sum_product_decode(check_start: np.ndarray, edge_var: np.ndarray, syndrome: np.ndarray, channel: np.ndarray,
                       max_iterations: int, messages: np.ndarray | None = None,
                       stall: int = 0, layers: CheckLayers | None = None) -> tuple[np.ndarray, int, bool]:
    """Decode the error pattern whose syndrome is ``syndrome`` by sum-product (module docstring).

    Args:
        check_start: int64, ``num_checks + 1`` offsets of each check's edges (every check has >= 1 edge).
        edge_var: int64, the variable of each edge, check by check.
        syndrome: uint8 0/1, the target syndrome, one per check.
        channel: float64, the channel LLR ``ln(P(e_v = 0) / P(e_v = 1))`` of each variable (0: nothing known,
            a punctured position; very large: known, a shortened one).
        max_iterations: most flooding iterations, >= 1.
        messages: ``None`` (start from the channel LLRs alone), or a writable float64 array of one
            check-to-variable message per edge: decoding starts from them (the variable-to-check messages are
            ``L_v^ch + Σ_c' m_c'v - m_cv``; zeros are the cold start, bit for bit) and the last iteration's are
            written back, so a later call with changed channel LLRs continues where this one stopped (blind
            reconciliation's warm restart, :func:`dqsim.protocols.qkd.ldpc.reconcile`).
        stall: 0, or give up (not converged) once this many iterations in a row found no fewer unsatisfied
            checks than the fewest seen so far; a check counts as unsatisfied when the signs of the messages
            it receives do not match its syndrome bit (counted in the check pass at no extra cost; the hard
            decisions' own syndrome, which ends the decoding, is checked apart); or a :class:`StallRule`.
        layers: ``None``: the flooding schedule; the code's :func:`check_layers`: the layered schedule
            (module docstring, "Schedules"; an iteration is then one pass over the checks in that order).

    Returns:
        ``(e, iterations, converged)``: the decided pattern (uint8), the iterations run, and whether
        ``H·e`` equals the syndrome. Compiled where :func:`has_sum_product`, else
        :func:`sum_product_decode_numpy` (the same result, and the same messages written back).
    """
    args = _checked(check_start, edge_var, syndrome, channel)
    c2v = _messages(messages, args[1].size)
    if not has_sum_product():
        return sum_product_decode_numpy(*args, max_iterations, c2v, stall, layers)
    rule = _stall_rule(stall)
    if layers is None:
        hard, iterations, converged = _numba_sum_product(*args, PHI_TABLE, PHI_SCALE, int(max_iterations), c2v,
                                                         *rule, False)
    else:
        _check_layers(layers, args[0].size - 1, args[1].size)
        laid = c2v[layers.edges]
        hard, iterations, converged = _numba_sum_product(layers.check_start, layers.edge_var,
                                                         args[2][layers.order], args[3], PHI_TABLE, PHI_SCALE,
                                                         int(max_iterations), laid, *rule, True)
        c2v[layers.edges] = laid
    return hard, int(iterations), bool(converged)


def _stall_rule(stall) -> StallRule:
    """``stall`` (an int, the limit alone, or a :class:`StallRule`) as a :class:`StallRule` of ints."""
    rule = StallRule(int(stall)) if np.isscalar(stall) else StallRule(*stall)
    return StallRule(int(rule.limit), int(rule.window), int(rule.most))


def _check_layers(layers: CheckLayers, num_checks: int, num_edges: int) -> None:
    if layers.order.shape != (num_checks,) or layers.edges.shape != (num_edges,):
        raise ValueError(f"sum_product_decode: layers must order the {num_checks} checks and {num_edges} edges, "
                         f"got {layers.order.shape} and {layers.edges.shape}")


def sum_product_decode_numpy(check_start: np.ndarray, edge_var: np.ndarray, syndrome: np.ndarray,
                             channel: np.ndarray, max_iterations: int, messages: np.ndarray | None = None,
                             stall: int = 0, layers: CheckLayers | None = None) -> tuple[np.ndarray, int, bool]:
    """:func:`sum_product_decode` in NumPy (the reference; the path without numba): the same arguments and result.

    Examples:
        >>> start = np.array([0, 2, 4]); var = np.array([0, 1, 1, 2])      # checks x0+x1, x1+x2
        >>> e, it, ok = sum_product_decode_numpy(start, var, np.array([1, 1], np.uint8),
        ...                                      np.array([2.0, 1.0, 2.0]), 10)
        >>> e.tolist(), ok
        ([0, 1, 0], True)
    """
    check_start, edge_var, syndrome, channel = _checked(check_start, edge_var, syndrome, channel)
    c2v_out = _messages(messages, edge_var.size)
    if layers is not None:
        return _layered_numpy(check_start, edge_var, syndrome, channel, max_iterations, c2v_out, stall, layers)
    starts = check_start[:-1]
    num_checks = starts.size
    edge_check = np.repeat(np.arange(num_checks), np.diff(check_start))
    num_vars = channel.size
    c2v = c2v_out.copy()
    v2c = (channel + np.bincount(edge_var, weights=c2v, minlength=num_vars))[edge_var] - c2v
    hard = np.zeros(num_vars, dtype=np.uint8)
    stalled = _Stall(stall, num_checks)
    result = None
    for iteration in range(1, max_iterations + 1):
        negative = v2c < 0.0
        term = phi(np.abs(v2c))
        whole = np.bincount(edge_check, weights=term, minlength=num_checks)
        out = phi(np.maximum(whole[edge_check] - term, 0.0))
        parity = (np.bincount(edge_check, weights=negative, minlength=num_checks).astype(np.int64) & 1)
        flip = (parity.astype(np.uint8)[edge_check] ^ syndrome[edge_check] ^ negative.astype(np.uint8)).astype(bool)
        c2v = np.where(flip, -out, out)
        total = channel + np.bincount(edge_var, weights=c2v, minlength=num_vars)
        hard = (total < 0.0).astype(np.uint8)
        v2c = total[edge_var] - c2v
        if not (np.bitwise_xor.reduceat(hard[edge_var], starts) ^ syndrome).any():
            result = (hard, iteration, True)
            break
        if stalled.rule.limit > 0 and stalled.gives_up(int(np.count_nonzero(parity.astype(np.uint8) ^ syndrome))):
            result = (hard, iteration, False)
            break
    c2v_out[:] = c2v
    return result if result is not None else (hard, max_iterations, False)


class _Stall:
    """The NumPy decoders' stall count (:class:`StallRule`): iterations in a row without fewer unsatisfied checks
    than the fewest, and the counts of the iterations before."""

    def __init__(self, stall, num_checks: int):
        self.rule, self.fewest, self.since, self.counts = _stall_rule(stall), num_checks + 1, 0, []

    def gives_up(self, unsatisfied: int) -> bool:
        self.counts.append(unsatisfied)
        if unsatisfied < self.fewest:
            self.fewest, self.since = unsatisfied, 0
            return False
        self.since += 1
        limit, window, most = self.rule
        if self.since >= limit and (window == 0 or (len(self.counts) > window
                                                     and unsatisfied >= self.counts[-1 - window])):
            return True
        return 0 < most <= self.since


def _layered_numpy(check_start, edge_var, syndrome, channel, max_iterations, c2v_out, stall, layers):
    """The layered schedule in NumPy, a layer at a time (the compiled loop's operations in its order)."""
    num_checks = check_start.size - 1
    num_vars = channel.size
    _check_layers(layers, num_checks, edge_var.size)
    laid_var = layers.edge_var
    laid_syndrome = syndrome[layers.order]
    c2v = c2v_out[layers.edges]
    starts = check_start[:-1]
    total = channel + np.bincount(laid_var, weights=c2v, minlength=num_vars)
    hard = np.zeros(num_vars, dtype=np.uint8)
    stalled = _Stall(stall, num_checks)
    result = None
    for iteration in range(1, max_iterations + 1):
        unsatisfied = 0
        for edges, variables, local, count, checks in layers.plan:     # built once a code (check_layers)
            bits = laid_syndrome[checks]
            v2c = total[variables] - c2v[edges]
            negative = v2c < 0.0
            term = phi(np.abs(v2c))
            whole = np.bincount(local, weights=term, minlength=count)
            out = phi(np.maximum(whole[local] - term, 0.0))
            parity = (np.bincount(local, weights=negative, minlength=count).astype(np.int64) & 1).astype(np.uint8)
            unsatisfied += int(np.count_nonzero(parity ^ bits))
            new = np.where((parity ^ bits)[local] ^ negative, -out, out)
            c2v[edges] = new
            total[variables] = v2c + new
        hard = (total < 0.0).astype(np.uint8)
        if not (np.bitwise_xor.reduceat(hard[edge_var], starts) ^ syndrome).any():
            result = (hard, iteration, True)
            break
        if stalled.rule.limit > 0 and stalled.gives_up(unsatisfied):
            result = (hard, iteration, False)
            break
    c2v_out[layers.edges] = c2v
    return result if result is not None else (hard, max_iterations, False)
