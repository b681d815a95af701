"""One-way information reconciliation by LDPC syndrome decoding, the option beside Cascade.

Alice sends, for each frame of her key, the syndrome ``s = H·x_A`` of a
low-density parity-check code; Bob decodes his error pattern from
``s XOR H·x_B`` by belief propagation (normalized min-sum,
:mod:`dqsim.backend.ldpc_kernels`) and flips it. One message from Alice, no
interaction: D. Elkouss, A. Leverrier, R. Alléaume, J. J. Boutros, "Efficient
reconciliation protocol for discrete-variable quantum key distribution", ISIT
2009; D. Elkouss, J. Martinez-Mateo, V. Martin, "Information reconciliation for
quantum key distribution", Quantum Inf. Comput. 11, 226 (2011).

**Codes.** A family of mother codes of rates :data:`MOTHER_RATES`, columns
mostly of degree :data:`VARIABLE_DEGREE` with some of degree 2 and
:data:`HIGH_DEGREE` (:func:`degree_profile`), built by a progressive-edge-growth
rule restricted to depth two (X.-Y. Hu, E. Eleftheriou, D. M. Arnold,
"Regular and irregular progressive edge-growth Tanner graphs", IEEE Trans.
Inf. Theory 51, 386 (2005)): each variable in turn joins the checks of lowest
degree that share no variable with its other checks (so no 4-cycle where one
can be avoided), ties broken by the run's public random stream
(:class:`dqsim.rng.Stream` keyed by the seed and :data:`PURPOSE_CODE`, event
= the code's length and rate): a seed gives the same codes on any number of
ranks, and a process builds each code once (:func:`mother_code`).

**Rate.** The target rate of a block is ``R = 1 - f·h(E)`` for the QBER
estimate E and a target efficiency f (the job's ``f_ec``). The mother code of
the lowest rate ``R_0 >= R`` is *shortened* to R: ``s`` of its ``n``
positions carry bits both sides know (zeros), so a frame holds ``n - s`` key
bits, and the effective rate is ``(n·R_0 - s)/(n - s)`` (Elkouss et al. 2011,
Sec. 4, rate adaptation with δ = s, no puncturing). A key of any length is cut
into equal frames of at most ``n - s`` bits (a key shorter than
:data:`FRAME_BITS` gets one code of its own length).

**Leakage.** Every frame discloses its ``m = n(1 - R_0)`` syndrome bits,
decoded or not; ``f_EC = Σ m / (N·h(E))`` over the block's N key bits.
Bob tells Alice, one bit a frame in his acknowledgement, which frames failed
(no syndrome match within :data:`MAX_ITERATIONS`): both drop those frames' key
bits, and the key-length formula charges them as disclosed (a bit of key
carries at most a bit of secrecy, so this never overstates the key). A frame
that converges to a wrong word (same syndrome, other bits) is caught by the
block's verification hash (:func:`dqsim.protocols.qkd.reconciliation.postprocess_key`),
which then discards the block, as with Cascade.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from dqsim.backend import ldpc_kernels
from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.theory import binary_entropy
from dqsim.rng import Stream

__all__ = ["FRAME_BITS", "LdpcCode", "LdpcResult", "MOTHER_RATES", "build_code", "degree_profile", "design_qber",
           "frame_sizes", "mother_code",
           "mother_rate", "reconcile", "reconciler", "target_rate"]

#: Length of the mother codes, bits (a frame: key bits plus shortened ones).
FRAME_BITS = 4096
#: Ones per column of H for most columns (:func:`degree_profile`).
VARIABLE_DEGREE = 3
#: Share of the columns with :data:`HIGH_DEGREE` ones (:func:`degree_profile`).
HIGH_DEGREE_SHARE = 0.1
#: Ones in those columns.
HIGH_DEGREE = 10
#: Degree-2 columns, as a share of the checks (:func:`degree_profile`).
DEGREE_TWO_SHARE = 0.5
#: Rates of the mother codes, 0.30 to 0.98 in steps of 0.01 (each built when first used).
MOTHER_RATES = tuple(round(0.30 + 0.01 * i, 2) for i in range(69))
#: Normalization α of the min-sum check messages (Chen & Fossorier 2002 find 0.8 near-best for degree-3 variables).
MIN_SUM_ALPHA = 0.8
#: Most decoder iterations of a frame.
MAX_ITERATIONS = 60
#: Channel LLR of a shortened position (its error is known to be 0): larger than any message can grow.
SHORTENED_LLR = 1e6
#: Standard errors of the QBER estimate added to it before the rate is chosen (:func:`design_qber`).
QBER_MARGIN_SIGMAS = 2.0
#: Purpose of the random stream that builds the codes (:class:`dqsim.rng.Stream`).
PURPOSE_CODE = "qkd_ldpc_code"


@dataclass(frozen=True, eq=False)
class LdpcCode:
    """A parity-check matrix H (``num_checks × num_bits``), stored check by check.

    Attributes:
        num_bits: n, code length (columns).
        num_checks: m, parity checks (rows); the design rate is ``1 - m/n``.
        check_start: int64, ``m + 1`` offsets: the edges of check c are ``check_start[c]:check_start[c+1]``.
        edge_var: int64, the column of each edge.
    """

    num_bits: int
    num_checks: int
    check_start: np.ndarray
    edge_var: np.ndarray

    @property
    def rate(self) -> float:
        """Design rate ``1 - m/n``."""
        return 1.0 - self.num_checks / self.num_bits

    def syndrome(self, bits: np.ndarray) -> np.ndarray:
        """``H·bits mod 2`` (uint8, one per check)."""
        return np.bitwise_xor.reduceat(np.asarray(bits, dtype=np.uint8)[self.edge_var], self.check_start[:-1])

    def num_four_cycles(self) -> int:
        """Pairs of checks that share two or more variables (each such pair closes a 4-cycle)."""
        h = np.zeros((self.num_checks, self.num_bits), dtype=np.int64)
        h[np.repeat(np.arange(self.num_checks), np.diff(self.check_start)), self.edge_var] = 1
        overlap = h @ h.T
        return int(np.count_nonzero(np.triu(overlap, 1) >= 2))


def build_code(num_bits: int, num_checks: int, rng: np.random.Generator, *,
               variable_degree=VARIABLE_DEGREE) -> LdpcCode:
    """A parity-check matrix by depth-two progressive edge growth (module docstring).

    The variables are taken in order of increasing degree (Hu et al. 2005);
    variable j joins its ``variable_degree`` distinct checks one at a time:
    the check of lowest degree (ties by a fresh random key per variable) among
    those that share no variable with the checks already chosen for j; where
    every check does, the lowest-degree check not yet chosen (a 4-cycle).

    Args:
        num_bits: n, columns, >= 2.
        num_checks: m, rows, >= the largest variable degree, <= n - 1.
        rng: the generator of the random tie-breaks.
        variable_degree: ones per column, >= 2: one for all, or one per column (:func:`degree_profile`).

    Returns:
        The :class:`LdpcCode`; check degrees within one of each other.

    Examples:
        >>> code = build_code(60, 30, np.random.default_rng(1))
        >>> code.num_four_cycles(), int(np.diff(code.check_start).min()), int(np.diff(code.check_start).max())
        (0, 6, 6)
    """
    where = "build_code"
    n = check_int(where, "num_bits", num_bits, 2)
    degrees = np.broadcast_to(np.asarray(variable_degree, dtype=np.int64), (n,))
    if degrees.min() < 2:
        raise DqsimError(f"{where}: variable_degree must be >= 2, got {int(degrees.min())}")
    m = check_int(where, "num_checks", num_checks, int(degrees.max()), n - 1)
    check_degree = np.zeros(m, dtype=np.float64)
    neighbours = np.zeros((m, m), dtype=bool)   # checks sharing a variable
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(degrees, out=offsets[1:])
    chosen = np.empty(int(offsets[-1]), dtype=np.int64)
    for v in np.argsort(degrees, kind="stable"):
        key = check_degree + rng.random(m)       # lowest degree first, random among equals
        blocked = np.zeros(m, dtype=bool)
        taken = np.zeros(m, dtype=bool)
        for d in range(offsets[v], offsets[v + 1]):
            open_key = np.where(blocked | taken, np.inf, key)
            c = int(np.argmin(open_key))
            if not np.isfinite(open_key[c]):      # every check would close a 4-cycle: take one anyway
                c = int(np.argmin(np.where(taken, np.inf, key)))
            chosen[d] = c
            taken[c] = True
            blocked |= neighbours[c]
            check_degree[c] += 1.0
        row = chosen[offsets[v]:offsets[v + 1]]
        neighbours[np.ix_(row, row)] = True
    order = np.argsort(chosen, kind="stable")
    edge_var = np.repeat(np.arange(n, dtype=np.int64), degrees)[order]
    check_start = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(chosen, minlength=m), out=check_start[1:])
    return LdpcCode(n, m, check_start, edge_var)


def degree_profile(num_bits: int, num_checks: int) -> np.ndarray:
    """Column degrees of the mother codes: :data:`HIGH_DEGREE_SHARE` of n at :data:`HIGH_DEGREE` (first), then
    :data:`DEGREE_TWO_SHARE` of m at 2, the rest at 3 (last: the positions shortened first).

    A few strong columns and degree-2 columns (fewer than the checks, so they form no cycle of their own)
    move the decoding threshold of the degree-3 codes: with min-sum at 4,096 bits, rate 0.5 decoded 7 of 8
    frames at a QBER of 8 % against 5 of 8, rate 0.8 5 of 8 at 2 % against 1 of 8 (100 iterations, dev VM, 2026-12-06).

    Examples:
        >>> degree_profile(40, 20).tolist().count(2), degree_profile(40, 20).tolist().count(10)
        (10, 4)
    """
    degrees = np.full(num_bits, VARIABLE_DEGREE, dtype=np.int64)
    high = min(num_bits, round(HIGH_DEGREE_SHARE * num_bits)) if num_checks > HIGH_DEGREE else 0
    two = min(num_bits - high, round(DEGREE_TWO_SHARE * num_checks))
    degrees[:high] = HIGH_DEGREE
    degrees[high:high + two] = 2
    return degrees


@functools.lru_cache(maxsize=16)
def mother_code(seed: int, num_bits: int, rate: float) -> LdpcCode:
    """The mother code of a run (``seed``) for a length and a rate of :data:`MOTHER_RATES`, built once a process.

    Args:
        seed: the run's seed.
        num_bits: code length, bits, >= 8.
        rate: one of :data:`MOTHER_RATES`.

    Returns:
        :func:`build_code` with ``round(n·(1 - rate))`` checks (at least :data:`VARIABLE_DEGREE`), the columns of
        :func:`degree_profile` and the generator of event ``num_bits · 100 + rate index`` of the stream
        ``(seed, node 0, PURPOSE_CODE)``.
    """
    if rate not in MOTHER_RATES:
        raise DqsimError(f"mother_code: rate must be one of {MOTHER_RATES}, got {rate}")
    index = MOTHER_RATES.index(rate)
    num_checks = min(num_bits - 1, max(VARIABLE_DEGREE, round(num_bits * (1.0 - rate))))
    rng = Stream(seed, purpose=PURPOSE_CODE).generator(num_bits * 100 + index)
    return build_code(num_bits, num_checks, rng, variable_degree=degree_profile(num_bits, num_checks))


def target_rate(qber: float, efficiency: float) -> float:
    """Code rate ``R = 1 - f·h(E)`` that leaks f times the Slepian-Wolf bound (Elkouss et al. 2009, eq. 2).

    Args:
        qber: the QBER estimate E, in [0, 0.5].
        efficiency: f, >= 1.

    Returns:
        R, clipped to [0, 1].

    Examples:
        >>> round(target_rate(0.05, 1.2), 4)
        0.6563
    """
    return min(1.0, max(0.0, 1.0 - efficiency * binary_entropy(qber)))


def mother_rate(rate: float) -> float:
    """The lowest rate of :data:`MOTHER_RATES` at or above ``rate`` (the highest where none is).

    Examples:
        >>> mother_rate(0.6563), mother_rate(0.1), mother_rate(0.995)
        (0.66, 0.3, 0.98)
    """
    for each in MOTHER_RATES:
        if each >= rate - 1e-12:
            return each
    return MOTHER_RATES[-1]


def frame_sizes(num_key_bits: int, rate: float, *, frame_bits: int = FRAME_BITS) -> tuple[int, float, list[int]]:
    """How a key is cut into frames: ``(code length n, mother rate R_0, key bits per frame)``.

    The mother code of rate ``R_0 = mother_rate(rate)`` shortened by
    ``s = ⌈n(R_0 - R)/(1 - R)⌉`` positions has rate R and holds ``n - s`` key
    bits; the key is cut into ``⌈N/(n - s)⌉`` frames of equal size k (within one bit),
    and the mother rate is then the highest of :data:`MOTHER_RATES` at or below
    ``1 - (1 - R)·k/n`` (frames shorter than ``n - s`` need fewer syndrome bits for rate R).
    A key of N < ``frame_bits`` bits gets one frame, a code of ``⌈N(1 - R)/(1 - R_0)⌉`` bits
    (at most ``frame_bits``) shortened to the key.

        >>> frame_sizes(1000, 0.6563, frame_bits=4096)
        (1011, 0.66, [1000])

    Examples:
        >>> n, r0, sizes = frame_sizes(10_000, 0.6563, frame_bits=4096)
        >>> n, r0, len(sizes), sum(sizes), round(4096 * (1 - r0) / (max(sizes) * (1 - 0.6563)), 3)
        (4096, 0.72, 3, 10000, 1.001)
    """
    num_key_bits = check_int("frame_sizes", "num_key_bits", num_key_bits, 0)
    r0 = mother_rate(rate)
    # a short key: one frame, in a code long enough that shortening it to the key leaves rate R
    one_frame = math.ceil(num_key_bits * (1.0 - rate) / (1.0 - r0)) if r0 < 1.0 else num_key_bits
    n = max(8, min(frame_bits, max(num_key_bits, one_frame)))
    shortened = math.ceil(n * (r0 - rate) / (1.0 - rate)) if rate < r0 else 0
    per_frame = max(1, n - shortened)
    num_frames = -(-num_key_bits // per_frame)
    base, extra = divmod(num_key_bits, num_frames) if num_frames else (0, 0)
    # the frames hold base (+1) <= n - s key bits: the highest mother rate whose n(1 - R_0) syndrome bits
    # still give them rate R (a shorter frame needs fewer)
    needed = 1.0 - (1.0 - rate) * (base + (extra > 0)) / n
    r0 = max([each for each in MOTHER_RATES if each <= needed + 1e-12] or [MOTHER_RATES[0]])
    return n, r0, [base + (i < extra) for i in range(num_frames)]


@dataclass(frozen=True)
class LdpcResult:
    """What LDPC reconciliation did to one block.

    Attributes:
        corrected: Bob's key after decoding, the bits of the frames that decoded (uint8).
        kept: bool mask over the block's key bits: the frames that decoded (both sides keep these).
        leakage_bits: syndrome bits disclosed, every frame, bits.
        discarded_bits: key bits of the frames that failed (dropped; charged as disclosed by the key length).
        rounds: round trips beyond the key message: 0 (one-way; Bob's failed-frame flags ride on his acknowledgement).
        message_bits: syndromes plus one flag bit a frame, bits.
        num_frames: frames decoded.
        frame_errors: frames whose decoder found no word of the syndrome.
        code_rate: effective rate of the frames (after shortening).
        mother_rate: rate of the mother code.
        code_bits: length of the mother code, bits.
        iterations: decoder iterations, summed over the frames.
    """

    corrected: np.ndarray
    kept: np.ndarray
    leakage_bits: int
    discarded_bits: int
    rounds: int
    message_bits: int
    num_frames: int
    frame_errors: int
    code_rate: float
    mother_rate: float
    code_bits: int
    iterations: int


def reconcile(alice: np.ndarray, bob: np.ndarray, qber_estimate: float, *, seed: int, efficiency: float,
              frame_bits: int = FRAME_BITS, use_kernel: bool | None = None) -> LdpcResult:
    """Correct Bob's key towards Alice's by one syndrome message a frame (module docstring).

    Args:
        alice, bob: the key bits (uint8 0/1), one length.
        qber_estimate: the QBER the rate is chosen for (and the channel LLR), in (0, 0.5].
        seed: the run's seed (the codes, :func:`mother_code`).
        efficiency: target f of the rate choice (:func:`target_rate`), >= 1.
        frame_bits: mother code length, bits, >= 8.
        use_kernel: decode with the compiled loop (``True``), in NumPy (``False``), or the compiled loop
            where numba is (``None``); the same result either way.

    Returns:
        The :class:`LdpcResult` (a key of n bits: ``corrected`` holds the ``kept`` ones).

    Raises:
        DqsimError: Alice's and Bob's keys differ in shape, or an argument is outside its range.

    Examples:
        >>> a = np.random.default_rng(1).integers(0, 2, 3000, dtype=np.uint8)
        >>> b = a.copy(); b[::40] ^= 1                                  # a QBER of 2.5 %
        >>> r = reconcile(a, b, 0.025, seed=5, efficiency=1.5)
        >>> r.frame_errors, bool((r.corrected == a[r.kept]).all()), r.rounds
        (0, True, 0)
    """
    where = "ldpc.reconcile"
    alice = np.asarray(alice, dtype=np.uint8)
    bob = np.asarray(bob, dtype=np.uint8)
    if alice.shape != bob.shape or alice.ndim != 1:
        raise DqsimError(f"{where}: alice and bob must be 1-d keys of one length, got {alice.shape}, {bob.shape}")
    qber = check_real(where, "qber_estimate", qber_estimate, 0.0, 0.5, low_open=True)
    efficiency = check_real(where, "efficiency", efficiency, 1.0)
    frame_bits = check_int(where, "frame_bits", frame_bits, 8)
    num = alice.size
    rate = target_rate(qber, efficiency)
    n, r0, sizes = frame_sizes(num, rate, frame_bits=frame_bits)
    if not sizes:
        return LdpcResult(bob.copy(), np.ones(0, dtype=bool), 0, 0, 0, 0, 0, 0, rate, r0, n, 0)
    code = mother_code(int(seed), n, r0)
    decode = ldpc_kernels.min_sum_decode if use_kernel is None or use_kernel else ldpc_kernels.min_sum_decode_numpy
    if use_kernel and not ldpc_kernels.has_min_sum():
        raise DqsimError(f"{where}: use_kernel=True needs numba (DQSIM_FAST_KERNELS not 0)")
    llr = math.log((1.0 - qber) / qber)
    kept = np.ones(num, dtype=bool)
    corrected = bob.copy()
    frame_errors = iterations = 0
    offset = 0
    for size in sizes:
        # the frame's key bits first, then n - size shortened positions (zeros on both sides, error 0)
        x_a = np.zeros(n, dtype=np.uint8)
        x_b = np.zeros(n, dtype=np.uint8)
        x_a[:size] = alice[offset:offset + size]
        x_b[:size] = bob[offset:offset + size]
        channel = np.full(n, SHORTENED_LLR)
        channel[:size] = llr
        target = code.syndrome(x_a) ^ code.syndrome(x_b)
        error, used, converged = decode(code.check_start, code.edge_var, target, channel, MIN_SUM_ALPHA,
                                        MAX_ITERATIONS)
        iterations += used
        if converged:
            corrected[offset:offset + size] ^= error[:size]
        else:
            frame_errors += 1
            kept[offset:offset + size] = False
        offset += size
    num_frames = len(sizes)
    leak = num_frames * code.num_checks
    discarded = int(num - np.count_nonzero(kept))
    effective = 1.0 - code.num_checks * num_frames / num
    return LdpcResult(corrected[kept], kept, leak, discarded, 0, leak + num_frames, num_frames, frame_errors,
                      effective, r0, n, iterations)


def design_qber(qber_estimate: float, num_key_bits: int, sample_fraction: float) -> float:
    """The QBER the rate is chosen for: the estimate plus :data:`QBER_MARGIN_SIGMAS` of its standard error.

    The estimate comes from about ``m = N·f_s/(1 - f_s)`` disclosed bits for N kept key bits and a sample
    fraction f_s, so its standard error is ``sqrt(E(1 - E)/m)``; a code chosen for the estimate alone would
    fail on every frame of a block whose true QBER is above it (one block in two).

    Examples:
        >>> round(design_qber(0.01, 27_000, 0.1), 5)
        0.01363
    """
    if not 0.0 < sample_fraction < 1.0 or num_key_bits <= 0:
        return qber_estimate
    sampled = num_key_bits * sample_fraction / (1.0 - sample_fraction)
    return min(0.5, qber_estimate + QBER_MARGIN_SIGMAS * math.sqrt(qber_estimate * (1.0 - qber_estimate) / sampled))


def reconciler(seed: int, efficiency: float, *, sample_fraction: float = 0.0, frame_bits: int = FRAME_BITS):
    """The ``reconcile`` argument of :func:`dqsim.protocols.qkd.reconciliation.postprocess_key` for LDPC.

    Args:
        seed: the run's seed (its codes).
        efficiency: target efficiency f of the rate choice, >= 1.
        sample_fraction: fraction of the sifted bits the QBER estimate disclosed, in [0, 1) (0: no margin;
            :func:`design_qber`).
        frame_bits: mother code length, bits.

    Returns:
        A function ``(alice, bob, qber_estimate, rng) -> LdpcResult`` (``rng`` unused: the frames, the
        shortened positions and the codes need no draw of the block).
    """
    def run(alice, bob, qber_estimate, rng):
        qber = design_qber(max(qber_estimate, 1e-6), int(np.size(alice)), sample_fraction)
        return reconcile(alice, bob, qber, seed=seed, efficiency=efficiency, frame_bits=frame_bits)
    return run
