"""The SPDC pair source of BBM92/E91 in closed form, and its optimal mean pair number.

The simulator's source (:mod:`dqsim.protocols.qkd.entangled`) emits per slot
exactly one pair, or the two-mode squeezed vacuum of a polarisation-entangled
SPDC source of mean pair number μ (X. Ma, C.-H. F. Fung and H.-K. Lo, Phys.
Rev. A 76, 012307 (2007)): in the basis of Alice's setting two independent
thermal modes of λ = μ/2 pairs, Bob measuring at the relative angle θ. Each
photon arrives and is detected with probability ``p = T·η_d`` and goes to the
wrong detector of its side's basis with probability e (Alice e_d, Bob
``(1 - w(1 - 2e_d))/2``, the Werner noise as a per-photon error; one pair:
the Werner state's law); each detector also fires on its own with
probability d; a double click on one side is a random bit
(:mod:`dqsim.protocols.qkd.entangled`, *Multi-pair source*).

**Click patterns.** Number the four detectors A0, A1, B0, B1. For a set S
of them, let ``F(S)`` be the probability that no photon reaches S. One pair
per slot (Werner correlation E = w·cos θ):

    F(S) = Σ_ab P(a, b) · (1 - p_a Σ_{x∈S_A} r(x|a)) · (1 - p_b Σ_{y∈S_B} r(y|b)),

``P(a, b) = (1 + (-1)^(a⊕b) E)/4``, ``r(x|a) = 1 - e_d`` if x = a else e_d.
Squeezed vacuum: each photon of Alice's mode k avoids S_A with
``α_k = 1 - p_a Σ_{x∈S_A} r_A(x|k)``, each photon in mode c of Bob's basis
avoids S_B with ``β_c = 1 - p_b Σ_{y∈S_B} r_B(y|c)``; with
``M = R(θ/2)·diag(β_0, β_1)·R(θ/2)^T`` the operator of S_B's silence on
Bob's photons in Alice's modes and ``q = λ/(1+λ)``,

    F(S) = Σ_{n_0,n_1} (1-q)² q^{n_0+n_1} α_0^{n_0} α_1^{n_1} ⟨n_0,n_1|Γ(M)|n_0,n_1⟩
         = (1-q)² / det(I - q·diag(α_0, α_1)·M),

since Γ(A)Γ(B) = Γ(AB) and ``Tr Γ(K) = 1/det(I - K)`` (the bosonic trace
over both modes). For S on one side this is the thermal law,
``Π_k 1/(1 + λ(1 - α_k))``; with θ = 0, e = 0 it gives Ma, Fung and Lo's
gain and QBER (their closed forms; tests/test_physics_audit.py). With dark
counts the silence has the extra factor ``Π_{x∈S}(1 - d_x)`` (d_x of x's
side). Inclusion-exclusion gives the probability that exactly the detectors C
click, ``P(C) = Σ_{T⊆C} (-1)^|T| F(S̄_C ∪ T)`` (S̄_C the others), hence the
coincidence probability, the sifted QBER and the CHSH correlators, exactly
for the simulator's model (dead time aside).

**Key rate and the optimal μ.** Per slot, BBM92's asymptotic key is
``s·P_c·max(0, 1 - f_EC·h(Q) - h(Q))`` (Shor–Preskill with error-correction
inefficiency; s = p² + (1 - p)² for BBM92's sifting with Z chosen with
probability p, 1/2 unbiased). E91's is ``s·P_c·max(0, r_CHSH(S) -
f_EC·h(Q))`` with s = 2/9 and r_CHSH the CHSH bound its key blocks use
(:func:`~dqsim.protocols.qkd.entangled.chsh_secrecy_fraction`, Acín et al.,
PRL 98, 230501 (2007)) at the expected S: Ekert's combination of the
correlators ``E(θ) = 1 - 2Q(θ)`` of the coincidences at the four CHSH
setting pairs (one pair per slot: θ = ±π/4, 3π/4, so E = ±w/√2 times the
noise factor, ``S = 4(1 - 2Q(w/√2))``, as
:func:`~dqsim.protocols.qkd.entangled.expected_chsh`). It grows like μ at
small μ and falls as multi-pair accidentals raise Q: the optimum μ* per
distance is found by a log-spaced scan and golden-section refinement. Dead
time and afterpulsing are not in this model (they lower the rate at high
click rates and would lower μ*).
"""

from __future__ import annotations

import itertools
import math

from dqsim.checks import check_real
from dqsim.errors import DqsimError
from dqsim.protocols.qkd.entangled import (E91_ALICE_ANGLES, E91_BOB_ANGLES, E91_CHSH_TERMS, MAX_MEAN_PAIR_NUMBER,
                                           chsh_secrecy_fraction, dark_pair, expected_sifted_fraction)
from dqsim.protocols.qkd.theory import binary_entropy

__all__ = ["MIN_MEAN_PAIR_NUMBER", "expected_spdc_chsh", "optimal_mean_pair_number", "pair_statistics",
           "spdc_key_rate"]

#: Smallest mean pair number searched by :func:`optimal_mean_pair_number`.
MIN_MEAN_PAIR_NUMBER = 1e-5

_DETECTORS = ((0, 0), (0, 1), (1, 0), (1, 1))  # (side, bit): A0, A1, B0, B1


def _silent_one_pair(silent, p, correlation: float, misalignment: float) -> float:
    """F(S) of one pair per slot: the probability that it fires none of the detectors in ``silent``."""
    total = 0.0
    for a, b in itertools.product((0, 1), repeat=2):
        weight = (1.0 + (correlation if a == b else -correlation)) / 4.0
        for side, bit in ((0, a), (1, b)):
            fire = sum((1.0 - misalignment) if x == bit else misalignment for s, x in silent if s == side)
            weight *= 1.0 - p[side] * fire
        total += weight
    return total


def _silent_squeezed_vacuum(silent, p, wrong, mean_pair_number: float, angle: float) -> float:
    """F(S) of the two-mode squeezed vacuum: (1-q)²/det(I - q·diag(α)·M) (module docstring)."""
    lam = mean_pair_number / 2.0
    q = lam / (1.0 + lam)
    avoid = [[1.0 - p[side] * sum((1.0 - wrong[side]) if x == k else wrong[side] for s, x in silent if s == side)
              for k in (0, 1)] for side in (0, 1)]
    (a0, a1), (b0, b1) = avoid
    c2, s2 = math.cos(angle / 2.0) ** 2, math.sin(angle / 2.0) ** 2
    m00, m11 = b0 * c2 + b1 * s2, b0 * s2 + b1 * c2
    m01_sq = ((b0 - b1) * math.cos(angle / 2.0) * math.sin(angle / 2.0)) ** 2
    det = (1.0 - q * a0 * m00) * (1.0 - q * a1 * m11) - q * q * a0 * a1 * m01_sq
    return (1.0 - q) ** 2 / det


def _channel(where, transmittance_alice, transmittance_bob, efficiency, dark_count_probability, misalignment,
             werner):
    p = (check_real(where, "transmittance_alice", transmittance_alice, 0.0, 1.0)
         * check_real(where, "efficiency", efficiency, 0.0, 1.0),
         check_real(where, "transmittance_bob", transmittance_bob, 0.0, 1.0) * efficiency)
    return (p, dark_pair(where, dark_count_probability), check_real(where, "misalignment", misalignment, 0.0, 1.0),
            check_real(where, "werner", werner, 0.0, 1.0))


def _check_mean_pair_number(where, mean_pair_number):
    if mean_pair_number is None:
        return None
    return check_real(where, "mean_pair_number", mean_pair_number, 0.0, MAX_MEAN_PAIR_NUMBER, low_open=True)


def pattern_probabilities(silent_photons, dark) -> list[list[float]]:
    """``P[a][b]``: the probability that Alice's detectors click in pattern a and Bob's in pattern b (a, b: 0 none,
    1 detector 0 alone, 2 detector 1 alone, 3 both), by inclusion-exclusion over ``F(S)·Π(1 - d_x)`` (module
    docstring); ``silent_photons(S)`` is F(S) of a list S of ``(side, bit)`` detectors, ``dark`` (Alice's, Bob's)."""

    def silent(detectors) -> float:
        return silent_photons(detectors) * math.prod(1.0 - dark[side] for side, _bit in detectors)

    table = [[0.0] * 4 for _ in range(4)]
    for clicks in itertools.product((False, True), repeat=4):
        on = [det for det, c in zip(_DETECTORS, clicks) if c]
        off = [det for det, c in zip(_DETECTORS, clicks) if not c]
        table[clicks[0] + 2 * clicks[1]][clicks[2] + 2 * clicks[3]] = sum(
            (-1) ** k * silent(off + list(extra)) for k in range(len(on) + 1)
            for extra in itertools.combinations(on, k))
    return table


#: Probability that a side's bit is 1 given its click pattern (1: detector 0, 2: detector 1, 3: a double click,
#: given a random bit); pattern 0 (no click) gives no bit.
PATTERN_BIT_ONE = (math.nan, 0.0, 1.0, 0.5)


def pattern_error(alice: int, bob: int) -> float:
    """Probability that the bits of click patterns ``alice`` and ``bob`` (both clicked) differ.

    Examples:
        >>> pattern_error(1, 1), pattern_error(1, 2), pattern_error(3, 1)
        (0.0, 1.0, 0.5)
    """
    one_a, one_b = PATTERN_BIT_ONE[alice], PATTERN_BIT_ONE[bob]
    return one_a * (1.0 - one_b) + (1.0 - one_a) * one_b


def _coincidences(silent_photons, dark) -> tuple[float, float]:
    """(P_c, P_c·Q) of the 16 click patterns (:func:`pattern_probabilities`)."""
    table = pattern_probabilities(silent_photons, dark)
    coincidence = sum(table[a][b] for a in range(1, 4) for b in range(1, 4))
    errors = sum(table[a][b] * pattern_error(a, b) for a in range(1, 4) for b in range(1, 4))
    return coincidence, errors


def _rates(coincidence: float, errors: float) -> tuple[float, float]:
    # the alternating sums cancel to within rounding: a noiseless link (w = 1, e_d = 0, d = 0) gave Q = -1e-17
    # .. -2e-15 for some arms, which binary_entropy refused; both are probabilities, and errors <= coincidence
    coincidence = max(coincidence, 0.0)
    return coincidence, (min(max(errors / coincidence, 0.0), 1.0) if coincidence > 0.0 else math.nan)


def _squeezed_statistics(mean_pair_number, p, dark, e_d, w, angle) -> tuple[float, float]:
    """(P_c, Q) of the squeezed vacuum at relative angle θ (Q: the fraction of coincidences whose bits differ)."""
    wrong = (e_d, 0.5 * (1.0 - w * (1.0 - 2.0 * e_d)))
    return _rates(*_coincidences(
        lambda detectors: _silent_squeezed_vacuum(detectors, p, wrong, mean_pair_number, angle), dark))


def pair_statistics(mean_pair_number: float | None, *, transmittance_alice: float, transmittance_bob: float,
                    efficiency: float, dark_count_probability: float, misalignment: float = 0.0,
                    werner: float = 1.0) -> tuple[float, float]:
    """Coincidence probability per slot in matching settings, and the sifted QBER (module docstring).

    Args:
        mean_pair_number: μ of the squeezed-vacuum source, in (0, 2]; ``None``: exactly one pair per slot.
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
        >>> p_c, q = pair_statistics(0.1, transmittance_alice=0.1, transmittance_bob=0.1, efficiency=1.0,
        ...                          dark_count_probability=0.0)      # Ma, Fung and Lo (2007), λ = 0.05
        >>> round(p_c, 7), round(q, 4)
        (0.0011184, 0.0396)
    """
    where = "pair_statistics"
    mean_pair_number = _check_mean_pair_number(where, mean_pair_number)
    p, dark, e_d, w = _channel(where, transmittance_alice, transmittance_bob, efficiency, dark_count_probability,
                               misalignment, werner)
    if mean_pair_number is not None:
        return _squeezed_statistics(mean_pair_number, p, dark, e_d, w, 0.0)
    return _rates(*_coincidences(lambda detectors: _silent_one_pair(detectors, p, w, e_d), dark))


def expected_spdc_chsh(mean_pair_number: float | None, **channel) -> float:
    """Expected E91 CHSH value of the source and channel: Ekert's combination of E(θ) = 1 - 2Q(θ) (module docstring).

    Args:
        mean_pair_number, **channel: as :func:`pair_statistics` (``werner`` the pairs' w, default 1).

    Returns:
        S = |Σ sign·E(β - α)| over :data:`~dqsim.protocols.qkd.entangled.E91_CHSH_TERMS`; one pair per
        slot ``4(1 - 2Q(w/√2))``; NaN where no coincidence is possible.

    Examples:
        >>> round(expected_spdc_chsh(None, transmittance_alice=0.5, transmittance_bob=0.4, efficiency=0.5,
        ...                          dark_count_probability=0.0, werner=0.95), 12)   # 2√2·0.95
        2.687005768509
    """
    where = "expected_spdc_chsh"
    werner = check_real(where, "werner", channel.pop("werner", 1.0), 0.0, 1.0)
    mean_pair_number = _check_mean_pair_number(where, mean_pair_number)
    if mean_pair_number is None:
        _p_c, q = pair_statistics(None, werner=werner / math.sqrt(2.0), **channel)
        return 4.0 * (1.0 - 2.0 * q)
    p, dark, e_d, w = _channel(where, channel.pop("transmittance_alice"), channel.pop("transmittance_bob"),
                               channel.pop("efficiency"), channel.pop("dark_count_probability"),
                               channel.pop("misalignment", 0.0), werner)
    if channel:
        raise DqsimError(f"{where}: unexpected channel arguments {sorted(channel)}")
    total = 0.0
    for a, b, sign in E91_CHSH_TERMS:
        _p_c, q = _squeezed_statistics(mean_pair_number, p, dark, e_d, w, E91_BOB_ANGLES[b] - E91_ALICE_ANGLES[a])
        total += sign * (1.0 - 2.0 * q)
    return abs(total)


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
                     MIN_MEAN_PAIR_NUMBER, MAX_MEAN_PAIR_NUMBER, low_open=True)

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
