"""The SPDC pair source of BBM92/E91 in closed form, and its optimal mean pair number.

The simulator's source (:mod:`dqsim.protocols.qkd.entangled`) emits per slot
a thermal number n of independent pairs, ``P(n) = μ^n/(1+μ)^(n+1)``, or
exactly one pair. Each pair's two bits follow the Werner correlation E (E =
w in matching bases); each photon arrives and is detected with probability
``p = T·η_d`` and fires the detector of its bit, the wrong one with the
misalignment e_d; each detector also fires on its own with probability d; a
double click on one side is a random bit.

**Click patterns.** Number the four detectors A0, A1, B0, B1. For a set S of
them, one pair leaves all of S silent with probability

    g(S) = Σ_ab P(a, b) · (1 - p_a Σ_{x∈S_A} r(x|a)) · (1 - p_b Σ_{y∈S_B} r(y|b)),

``P(a, b) = (1 + (-1)^(a⊕b) E)/4``, ``r(x|a) = 1 - e_d`` if x = a else e_d.
Pairs are independent, so n pairs leave S silent with ``g(S)^n``, and over
the thermal law ``E[g^n] = 1/(1 + μ(1 - g))`` (its generating function); with
dark counts ``F(S) = E[g(S)^n]·Π_{x∈S}(1 - d_x)`` (d_x of x's side). Inclusion-exclusion gives the
probability that exactly the detectors C click,
``P(C) = Σ_{T⊆C} (-1)^|T| F(S̄_C ∪ T)`` (S̄_C the others), hence the
coincidence probability and the sifted QBER, exactly for the simulator's model.

**Key rate and the optimal μ.** Per slot, BBM92's asymptotic key is
``s·P_c·max(0, 1 - f_EC·h(Q) - h(Q))`` (Shor–Preskill with error-correction
inefficiency; s = p² + (1 - p)² for BBM92's sifting with Z chosen with
probability p, 1/2 unbiased). E91's is ``s·P_c·max(0, r_CHSH(S) -
f_EC·h(Q))`` with s = 2/9 and r_CHSH the CHSH bound its key blocks use
(:func:`~dqsim.protocols.qkd.entangled.chsh_secrecy_fraction`, Acín et al.,
PRL 98, 230501 (2007)) at the expected S: each CHSH setting pair has
correlation ±w/√2 (:mod:`dqsim.protocols.qkd.entangled`), and the same
click-pattern sum at E = w/√2 gives its error rate Q_±, so S = 4(1 - 2Q_±)
(2√2·w times the noise factor for one pair per slot, as
:func:`~dqsim.protocols.qkd.entangled.expected_chsh`). It
grows like μ at small μ and falls as multi-pair accidentals raise Q: the
optimum μ* per distance is found by a log-spaced scan and golden-section
refinement. Dead time and afterpulsing are not in this model (they lower the
rate at high click rates and would lower μ*).

The thermal count of independent pairs is the simulator's model, not the
two-mode squeezed vacuum of a polarisation-entangled SPDC source (Ma, Fung
and Lo, PRA 76, 012307 (2007)), whose multi-pair QBER is about half of this
one's at small μ (:mod:`dqsim.protocols.qkd.entangled`, "Model").
"""

from __future__ import annotations

import itertools
import math

from dqsim.checks import check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.entangled import chsh_secrecy_fraction, dark_pair, expected_sifted_fraction
from dqsim.protocols.qkd.theory import binary_entropy

__all__ = ["MIN_MEAN_PAIR_NUMBER", "expected_spdc_chsh", "optimal_mean_pair_number", "pair_statistics",
           "spdc_key_rate"]

#: Smallest mean pair number searched by :func:`optimal_mean_pair_number`.
MIN_MEAN_PAIR_NUMBER = 1e-5

_DETECTORS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (side, bit): A0, A1, B0, B1


def _silent_one_pair(silent, p, correlation: float, misalignment: float) -> float:
    """g(S): probability that one pair fires none of the detectors in ``silent``."""
    total = 0.0
    for a, b in itertools.product((0, 1), repeat=2):
        weight = (1.0 + (correlation if a == b else -correlation)) / 4.0
        for side, bit in ((0, a), (1, b)):
            fire = sum((1.0 - misalignment) if x == bit else misalignment for s, x in silent if s == side)
            weight *= 1.0 - p[side] * fire
        total += weight
    return total


def pair_statistics(mean_pair_number: float | None, *, transmittance_alice: float, transmittance_bob: float,
                    efficiency: float, dark_count_probability: float, misalignment: float = 0.0,
                    werner: float = 1.0) -> tuple[float, float]:
    """Coincidence probability per slot in matching settings, and the sifted QBER (module docstring).

    Args:
        mean_pair_number: μ of the thermal source, in (0, 2]; ``None``: exactly one pair per slot.
        transmittance_alice: T_a (fibre and coupling), in [0, 1].
        transmittance_bob: T_b, in [0, 1].
        efficiency: η_d of every detector, in [0, 1].
        dark_count_probability: d per detector and slot, in [0, 1], or a pair (Alice's, Bob's).
        misalignment: e_d per side, in [0, 1].
        werner: Werner parameter w of each pair (E = w in matching bases), in [0, 1].

    Returns:
        ``(P_c, Q)``, both in [0, 1]; Q is NaN where P_c is 0.

    Examples:
        >>> p_c, q = pair_statistics(None, transmittance_alice=0.5, transmittance_bob=0.4, efficiency=0.5,
        ...                          dark_count_probability=0.0, werner=0.9)
        >>> round(p_c, 12), round(q, 12)
        (0.05, 0.05)
    """
    where = "pair_statistics"
    if mean_pair_number is not None:
        mean_pair_number = check_real(where, "mean_pair_number", mean_pair_number, 0.0, 2.0, low_open=True)
    p = (check_real(where, "transmittance_alice", transmittance_alice, 0.0, 1.0)
         * check_real(where, "efficiency", efficiency, 0.0, 1.0),
         check_real(where, "transmittance_bob", transmittance_bob, 0.0, 1.0) * efficiency)
    dark = dark_pair(where, dark_count_probability)
    e_d = check_real(where, "misalignment", misalignment, 0.0, 1.0)
    w = check_real(where, "werner", werner, 0.0, 1.0)

    def silent(detectors) -> float:
        g = _silent_one_pair(detectors, p, w, e_d)
        over_n = g if mean_pair_number is None else 1.0 / (1.0 + mean_pair_number * (1.0 - g))
        return over_n * math.prod(1.0 - dark[side] for side, _bit in detectors)

    coincidence = errors = 0.0
    for clicks in itertools.product((False, True), repeat=4):
        on = [det for det, c in zip(_DETECTORS, clicks) if c]
        off = [det for det, c in zip(_DETECTORS, clicks) if not c]
        alice = [bit for side, bit in on if side == 0]
        bob = [bit for side, bit in on if side == 1]
        if not alice or not bob:
            continue
        prob = sum((-1) ** k * silent(off + list(extra)) for k in range(len(on) + 1)
                   for extra in itertools.combinations(on, k))
        alice_one = 0.5 if len(alice) == 2 else float(alice[0])
        bob_one = 0.5 if len(bob) == 2 else float(bob[0])
        coincidence += prob
        errors += prob * (alice_one * (1.0 - bob_one) + (1.0 - alice_one) * bob_one)
    # the alternating sums cancel to within rounding: a noiseless link (w = 1, e_d = 0, d = 0) gave Q = -1e-17
    # .. -2e-15 for some arms, which binary_entropy refused; both are probabilities, and errors <= coincidence
    coincidence = max(coincidence, 0.0)
    return coincidence, (min(max(errors / coincidence, 0.0), 1.0) if coincidence > 0.0 else math.nan)


def expected_spdc_chsh(mean_pair_number: float | None, **channel) -> float:
    """Expected E91 CHSH value S = 4(1 - 2Q(w/√2)) of the source and channel (module docstring).

    Args:
        mean_pair_number, **channel: as :func:`pair_statistics` (``werner`` the pairs' w, default 1).

    Returns:
        S; NaN where no coincidence is possible.

    Examples:
        >>> round(expected_spdc_chsh(None, transmittance_alice=0.5, transmittance_bob=0.4, efficiency=0.5,
        ...                          dark_count_probability=0.0, werner=0.95), 12)   # 2√2·0.95
        2.687005768509
    """
    werner = check_real("expected_spdc_chsh", "werner", channel.pop("werner", 1.0), 0.0, 1.0)
    _p_c, q = pair_statistics(mean_pair_number, werner=werner / math.sqrt(2.0), **channel)
    return 4.0 * (1.0 - 2.0 * q)


def spdc_key_rate(mean_pair_number: float | None, *, protocol: str = "bbm92", f_ec: float = 1.16,
                  z_basis_probability: float = 0.5, **channel) -> float:
    """Asymptotic secret bits per slot: BBM92 ``s·P_c·max(0, 1 - f_EC·h(Q) - h(Q))``, E91
    ``s·P_c·max(0, r_CHSH(S) - f_EC·h(Q))`` at the expected S (module docstring).

    Args:
        mean_pair_number: as :func:`pair_statistics`.
        protocol: ``"bbm92"`` or ``"e91"`` (its sifted fraction s).
        f_ec: error-correction inefficiency, >= 1.
        z_basis_probability: BBM92's probability p of the Z basis on each side, in (0, 1)
            (:func:`~dqsim.protocols.qkd.entangled.expected_sifted_fraction`).
        **channel: the keyword arguments of :func:`pair_statistics`.

    Returns:
        Bits per slot, >= 0.
    """
    if protocol not in ("bbm92", "e91"):
        raise DqsimError(f"spdc_key_rate: protocol must be one of ['bbm92', 'e91'], got {protocol!r}")
    sifted = expected_sifted_fraction(protocol, z_basis_probability)
    f_ec = check_real("spdc_key_rate", "f_ec", f_ec, 1.0)
    p_c, q = pair_statistics(mean_pair_number, **channel)
    if not p_c or math.isnan(q):
        return 0.0
    if protocol == "e91":
        secrecy = chsh_secrecy_fraction(expected_spdc_chsh(mean_pair_number, **channel))
    else:
        secrecy = 1.0 - binary_entropy(min(q, 0.5))
    return sifted * p_c * max(0.0, secrecy - f_ec * binary_entropy(min(q, 0.5)))


def optimal_mean_pair_number(*, protocol: str = "bbm92", f_ec: float = 1.16, max_mean_pair_number: float = 2.0,
                             z_basis_probability: float = 0.5, **channel) -> tuple[float, float]:
    """The mean pair number μ* that maximises :func:`spdc_key_rate`, and that rate.

    A scan of 49 log-spaced μ in [1e-5, ``max_mean_pair_number``], then
    golden-section search (60 steps, on log μ) between the best point's neighbours.

    Args:
        protocol, f_ec, z_basis_probability: as :func:`spdc_key_rate`.
        max_mean_pair_number: the largest μ searched, in (1e-5, 2].
        **channel: the keyword arguments of :func:`pair_statistics`.

    Returns:
        ``(μ*, rate at μ*)``; ``(nan, 0.0)`` where no μ gives a key.

    Examples:
        >>> mu, rate = optimal_mean_pair_number(transmittance_alice=0.1, transmittance_bob=0.1, efficiency=0.8,
        ...                                     dark_count_probability=1e-6, misalignment=0.01)
        >>> 0.01 < mu < 0.5 and rate > spdc_key_rate(mu / 2, transmittance_alice=0.1, transmittance_bob=0.1,
        ...     efficiency=0.8, dark_count_probability=1e-6, misalignment=0.01)
        True
    """
    top = check_real("optimal_mean_pair_number", "max_mean_pair_number", max_mean_pair_number,
                     MIN_MEAN_PAIR_NUMBER, 2.0, low_open=True)

    def rate(log_mu: float) -> float:
        return spdc_key_rate(min(math.exp(log_mu), top), protocol=protocol, f_ec=f_ec,
                             z_basis_probability=z_basis_probability, **channel)

    lo, hi = math.log(MIN_MEAN_PAIR_NUMBER), math.log(top)
    grid = [lo + (hi - lo) * i / 48 for i in range(49)]
    values = [rate(x) for x in grid]
    best = max(range(len(grid)), key=values.__getitem__)
    if values[best] <= 0.0:
        return math.nan, 0.0
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    rc, rd = rate(c), rate(d)
    for _ in range(60):
        if rc >= rd:
            b, d, rd = d, c, rc
            c = b - ratio * (b - a)
            rc = rate(c)
        else:
            a, c, rc = c, d, rd
            d = a + ratio * (b - a)
            rd = rate(d)
    x = c if rc >= rd else d
    found = max((values[best], grid[best]), (rate(x), x))
    return min(math.exp(found[1]), top), found[0]
