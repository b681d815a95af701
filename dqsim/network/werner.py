"""Werner states and what happens to them: swapping, purification, tests, decay.

A two-qubit Werner state with parameter ``w`` is

    ρ_w = w·|Φ+⟩⟨Φ+| + (1 - w)·I/4,    -1/3 <= w <= 1,

with fidelity ``F = ⟨Φ+|ρ_w|Φ+⟩ = (3w + 1)/4`` to the Bell state
``|Φ+⟩ = (|00⟩ + |11⟩)/√2`` (R. F. Werner, Phys. Rev. A 40, 4277 (1989),
written in the Bell basis). Any two-qubit state can be brought to the
Werner state of the same fidelity by a random bilateral rotation ("twirl";
Bennett et al., Phys. Rev. A 54, 3824 (1996)), so fidelity alone describes
the pairs in these helpers. Fidelities are in [1/4, 1] here (w in [0, 1]),
the range reached by noisy entanglement generation.
"""

from __future__ import annotations

import math

from dqsim import units
from dqsim.checks import check_int, check_real
from dqsim.errors import DqsimError


def _check_fidelity(where: str, name: str, value: float) -> float:
    return check_real(where, name, value, 0.25, 1.0)


def fidelity_from_werner(werner_parameter: float) -> float:
    """Fidelity of a Werner state to |Φ+⟩: F = (3w + 1)/4.

    Args:
        werner_parameter: Werner parameter w in [0, 1].

    Returns:
        Fidelity F in [1/4, 1].

    Raises:
        DqsimError: ``werner_parameter`` outside [0, 1].

    Examples:
        >>> fidelity_from_werner(0.6)
        0.7
    """
    w = check_real("fidelity_from_werner", "werner_parameter", werner_parameter, 0.0, 1.0)
    return (3.0 * w + 1.0) / 4.0


def werner_from_fidelity(fidelity: float) -> float:
    """Werner parameter of the Werner state of fidelity F: w = (4F - 1)/3.

    Args:
        fidelity: fidelity F to |Φ+⟩ in [1/4, 1].

    Returns:
        Werner parameter w in [0, 1].

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> round(werner_from_fidelity(0.7), 12)
        0.6
    """
    f = _check_fidelity("werner_from_fidelity", "fidelity", fidelity)
    return (4.0 * f - 1.0) / 3.0


def swap_fidelity(fidelity_a: float, fidelity_b: float) -> float:
    """Fidelity after entanglement swapping of two Werner pairs: F1·F2 + (1-F1)(1-F2)/3.

    A perfect Bell measurement on one qubit of each pair, followed by the
    Pauli correction, leaves a Werner state whose parameter is the product
    ``w = w1·w2`` (W. Dür, H.-J. Briegel, J. I. Cirac and P. Zoller, Phys.
    Rev. A 59, 169 (1999), Sec. III), i.e. the fidelity above.

    Args:
        fidelity_a: fidelity F1 of the first pair, in [1/4, 1].
        fidelity_b: fidelity F2 of the second pair, in [1/4, 1].

    Returns:
        Fidelity of the swapped pair, in [1/4, 1].

    Raises:
        DqsimError: a fidelity outside [1/4, 1].

    Examples:
        >>> round(swap_fidelity(0.9, 0.9), 6)
        0.813333
    """
    f1 = _check_fidelity("swap_fidelity", "fidelity_a", fidelity_a)
    f2 = _check_fidelity("swap_fidelity", "fidelity_b", fidelity_b)
    return f1 * f2 + (1.0 - f1) * (1.0 - f2) / 3.0


def bbpssw_success_probability(fidelity: float) -> float:
    """Probability that one BBPSSW purification round keeps its pair.

    Bennett, Brassard, Popescu, Schumacher, Smolin and Wootters, Phys. Rev.
    Lett. 76, 722 (1996): with two Werner pairs of fidelity F, bilateral
    CNOT and comparison of the measured target qubits succeeds with
    ``p = F² + 2F(1-F)/3 + 5((1-F)/3)²``.

    Args:
        fidelity: fidelity F of each input Werner pair, in [1/4, 1].

    Returns:
        Success probability in [1/2, 1].

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> round(bbpssw_success_probability(0.8), 6)
        0.768889
    """
    f = _check_fidelity("bbpssw_success_probability", "fidelity", fidelity)
    g = (1.0 - f) / 3.0
    return f * f + 2.0 * f * g + 5.0 * g * g


def bbpssw_fidelity(fidelity: float) -> float:
    """Fidelity of the kept pair after one BBPSSW round (then twirled back to Werner form).

    Bennett et al., Phys. Rev. Lett. 76, 722 (1996)::

        F' = (F² + ((1-F)/3)²) / (F² + 2F(1-F)/3 + 5((1-F)/3)²)

    F' > F exactly when 1/2 < F < 1.

    Args:
        fidelity: fidelity F of each input Werner pair, in [1/4, 1].

    Returns:
        Output fidelity F'.

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> round(bbpssw_fidelity(0.8), 6)
        0.83815
    """
    f = _check_fidelity("bbpssw_fidelity", "fidelity", fidelity)
    g = (1.0 - f) / 3.0
    return (f * f + g * g) / bbpssw_success_probability(f)


def chsh_value(werner_parameter: float) -> float:
    """Largest CHSH value of a Werner state: S = 2√2·w.

    By the Horodecki criterion (R., P. and M. Horodecki, Phys. Lett. A 200,
    340 (1995)) the maximal CHSH value is ``2·sqrt(t1² + t2²)`` with ``t1``,
    ``t2`` the two largest singular values of the correlation matrix
    ``T_ij = Tr(ρ σ_i⊗σ_j)``; for a Werner state ``T = diag(w, -w, w)``.
    Local hidden-variable models give S <= 2, so the Werner state violates
    the CHSH inequality for w > 1/√2.

    Args:
        werner_parameter: Werner parameter w in [0, 1].

    Returns:
        S in [0, 2√2].

    Raises:
        DqsimError: ``werner_parameter`` outside [0, 1].

    Examples:
        >>> round(chsh_value(1.0), 6)
        2.828427
    """
    w = check_real("chsh_value", "werner_parameter", werner_parameter, 0.0, 1.0)
    return 2.0 * math.sqrt(2.0) * w


def teleportation_fidelity(fidelity: float) -> float:
    """Average fidelity of teleporting a qubit over a pair of fidelity F: (2F + 1)/3.

    Horodecki, Horodecki and Horodecki, Phys. Rev. A 60, 1888 (1999): the
    optimal average (over Haar-random input states) teleportation fidelity
    is ``(2F + 1)/3`` with F the fully entangled fraction; for a Werner
    state, with the standard protocol, F is its fidelity to |Φ+⟩. Above 2/3
    (F > 1/2) it beats any classical measure-and-prepare scheme.

    Args:
        fidelity: fidelity F of the shared pair, in [1/4, 1].

    Returns:
        Average teleportation fidelity in [1/2, 1].

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> round(teleportation_fidelity(0.85), 6)
        0.9
    """
    f = _check_fidelity("teleportation_fidelity", "fidelity", fidelity)
    return (2.0 * f + 1.0) / 3.0


def plob_bound(transmittance: float) -> float:
    """Repeaterless secret-key capacity of a pure-loss channel: -log2(1 - η) bits per use.

    Pirandola, Laurenza, Ottaviani and Banchi, Nat. Commun. 8, 15043 (2017)
    (the PLOB bound). No point-to-point QKD or entanglement distribution
    protocol over a lossy channel of transmittance η exceeds it; for small η
    it is ≈ 1.44·η.

    Args:
        transmittance: channel transmittance η in [0, 1].

    Returns:
        Bits per channel use, >= 0 (``math.inf`` at η = 1).

    Raises:
        DqsimError: ``transmittance`` outside [0, 1].

    Examples:
        >>> plob_bound(0.5)
        1.0
        >>> plob_bound(0.0)
        0.0
    """
    eta = check_real("plob_bound", "transmittance", transmittance, 0.0, 1.0)
    if eta == 1.0:
        return math.inf
    return -math.log1p(-eta) / math.log(2.0)


def _entropy_bits(probabilities) -> float:
    """Shannon entropy -Σ p·log2(p) of a distribution, bits (0·log 0 = 0)."""
    return -sum(p * math.log2(p) for p in probabilities if p > 0.0)


def bell_diagonal_hashing_yield(probabilities) -> float:
    """Ebits per pair distilled by hashing from a Bell-diagonal state: max(0, 1 - S(ρ)).

    For ``ρ = Σ p_i |B_i⟩⟨B_i|`` over the four Bell states, ``S(ρ)`` is the
    Shannon entropy of the ``p_i``. The hashing protocol (one-way
    communication) distils ``1 - S(ρ)`` ebits per pair from many copies, a
    lower bound on the distillable entanglement (C. H. Bennett, D. P.
    DiVincenzo, J. A. Smolin and W. K. Wootters, Phys. Rev. A 54, 3824
    (1996)). Below zero hashing yields nothing, hence the ``max``.

    Args:
        probabilities: the four Bell coefficients, each in [0, 1], summing to 1 (to 1e-9).

    Returns:
        Ebits per pair in [0, 1].

    Raises:
        DqsimError: not four probabilities summing to 1.

    Examples:
        >>> bell_diagonal_hashing_yield([1.0, 0.0, 0.0, 0.0])
        1.0
        >>> bell_diagonal_hashing_yield([0.5, 0.5, 0.0, 0.0])  # a fully dephased pair
        0.0
        >>> round(bell_diagonal_hashing_yield([0.9, 0.1, 0.0, 0.0]), 6)  # 1 - h(0.1)
        0.531004
    """
    where = "bell_diagonal_hashing_yield"
    values = [check_real(where, f"probabilities[{i}]", p, 0.0, 1.0) for i, p in enumerate(probabilities)]
    if len(values) != 4 or abs(sum(values) - 1.0) > 1e-9:
        raise DqsimError(f"{where}: probabilities must be four Bell coefficients summing to 1, got {values}")
    return max(0.0, 1.0 - _entropy_bits(values))


def werner_hashing_yield(fidelity: float) -> float:
    """Ebits per pair distilled by hashing from the Werner state of fidelity F.

    The Werner state is Bell-diagonal with coefficients ``(F, (1-F)/3,
    (1-F)/3, (1-F)/3)``, so this is :func:`bell_diagonal_hashing_yield` of
    those: ``max(0, 1 + F·log2 F + (1-F)·log2((1-F)/3))`` (Bennett et al.,
    Phys. Rev. A 54, 3824 (1996)). It is zero for F below about 0.8107. Any
    pair can be twirled to the Werner state of its fidelity by local
    operations (module docstring), so this is an achievable yield for any
    pairs of mean fidelity F.

    Args:
        fidelity: F in [1/4, 1].

    Returns:
        Ebits per pair in [0, 1].

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> werner_hashing_yield(1.0)
        1.0
        >>> werner_hashing_yield(0.755)
        0.0
        >>> round(werner_hashing_yield(0.95), 4)
        0.6344
    """
    f = _check_fidelity("werner_hashing_yield", "fidelity", fidelity)
    other = (1.0 - f) / 3.0
    return bell_diagonal_hashing_yield([f, other, other, other])


def bell_diagonal_key_fraction(probabilities) -> float:
    """Secret bits per pair from entanglement-based BB84 on Bell-diagonal pairs: max(0, 1 - h(e_Z) - h(e_X)).

    ``probabilities`` are the weights ``(Φ+, Φ−, Ψ+, Ψ−)`` with Φ+ the
    target. Measured in Z the two ends disagree on Ψ±, ``e_Z = p(Ψ+) +
    p(Ψ−)``; in X on Φ− and Ψ−, ``e_X = p(Φ−) + p(Ψ−)``. With the key drawn
    from Z and the phase error estimated in X, one-way error correction and
    privacy amplification leave ``1 - h(e_Z) - h(e_X)`` secret bits per
    sifted pair asymptotically (P. W. Shor and J. Preskill, Phys. Rev. Lett.
    85, 441 (2000)); with a biased basis choice the sifted fraction tends to 1
    (Lo, Chau and Ardehali, J. Cryptology 18, 133 (2005)). For Werner
    weights it equals :func:`werner_key_fraction`.

    Args:
        probabilities: the four Bell weights, each in [0, 1], summing to 1 (to 1e-9).

    Returns:
        Secret bits per pair in [0, 1].

    Raises:
        DqsimError: not four probabilities summing to 1.

    Examples:
        >>> bell_diagonal_key_fraction([1.0, 0.0, 0.0, 0.0])
        1.0
        >>> round(bell_diagonal_key_fraction([0.9, 0.1, 0.0, 0.0]), 6)  # dephasing: e_Z = 0, e_X = 0.1
        0.531004
    """
    where = "bell_diagonal_key_fraction"
    values = [check_real(where, f"probabilities[{i}]", p, 0.0, 1.0) for i, p in enumerate(probabilities)]
    if len(values) != 4 or abs(sum(values) - 1.0) > 1e-9:
        raise DqsimError(f"{where}: probabilities must be four Bell coefficients summing to 1, got {values}")
    e_z, e_x = values[2] + values[3], values[1] + values[3]
    return max(0.0, 1.0 - _entropy_bits([e_z, 1.0 - e_z]) - _entropy_bits([e_x, 1.0 - e_x]))


def werner_key_fraction(fidelity: float) -> float:
    """Secret bits per pair from entanglement-based BB84 on Werner pairs: max(0, 1 - 2·h(e)), e = 2(1-F)/3.

    Both ends measure each pair in Z or X (BBM92: C. H. Bennett, G.
    Brassard and N. D. Mermin, Phys. Rev. Lett. 68, 557 (1992)). A Werner
    pair of fidelity F gives error rate ``e = 2(1-F)/3`` in either basis,
    and one-way error correction plus privacy amplification leave
    ``1 - 2·h(e)`` secret bits per sifted pair in the asymptotic limit
    (P. W. Shor and J. Preskill, Phys. Rev. Lett. 85, 441 (2000)); with the
    basis choice biased towards one basis the sifted fraction tends to 1
    (H.-K. Lo, H. F. Chau and M. Ardehali, J. Cryptology 18, 133 (2005)), so
    this is per delivered pair. Zero above e ≈ 11 %, i.e. F below about 0.835.

    Args:
        fidelity: F in [1/4, 1].

    Returns:
        Secret bits per pair in [0, 1].

    Raises:
        DqsimError: ``fidelity`` outside [1/4, 1].

    Examples:
        >>> werner_key_fraction(1.0)
        1.0
        >>> werner_key_fraction(0.8)
        0.0
        >>> round(werner_key_fraction(0.95), 4)
        0.5783
    """
    f = _check_fidelity("werner_key_fraction", "fidelity", fidelity)
    error = 2.0 * (1.0 - f) / 3.0
    return max(0.0, 1.0 - 2.0 * _entropy_bits([error, 1.0 - error]))


def decohered_fidelity(
    fidelity: float,
    *,
    wait_a_ps: int,
    wait_b_ps: int = 0,
    t1_s: float = math.inf,
    t2_s: float = math.inf,
) -> float:
    """Fidelity of a Werner pair after its qubits wait in memories with T1 and T2.

    Each qubit undergoes amplitude damping towards |0⟩ with
    ``γ = 1 - e^(-t/T1)`` and loses coherence as ``e^(-t/T2)`` (the standard
    T1/T2 model, e.g. Nielsen and Chuang, *Quantum Computation and Quantum
    Information*, Sec. 8.3.5-8.3.6; needs ``T2 <= 2·T1``). Starting from the
    Werner state of parameter w, the fidelity to |Φ+⟩ is (derivation in the
    Bell basis, checked against a density-matrix computation in the tests)::

        F = [1 + w·(1 - γa - γb) + γa·γb·(1 + w)]/4 + (w/2)·e^(-ta/T2)·e^(-tb/T2)

    which is (3w + 1)/4 at ta = tb = 0 and tends to 1/4 as either wait
    grows. The decayed state is not of Werner form; twirling it gives the
    Werner state of this fidelity.

    Args:
        fidelity: fidelity F of the Werner pair before waiting, in [1/4, 1].
        wait_a_ps: time the first qubit waits, ps, >= 0.
        wait_b_ps: time the second qubit waits, ps, >= 0.
        t1_s: energy relaxation time T1 of both memories, s, > 0 (``math.inf`` allowed).
        t2_s: coherence time T2 of both memories, s, in (0, 2·T1]
            (``math.inf`` allowed when T1 is infinite).

    Returns:
        Fidelity after waiting.

    Raises:
        DqsimError: an argument out of its range, or T2 > 2·T1.

    Examples:
        >>> round(decohered_fidelity(1.0, wait_a_ps=units.PS_PER_S, t1_s=math.inf, t2_s=1.0), 6)
        0.68394
    """
    where = "decohered_fidelity"
    f = _check_fidelity(where, "fidelity", fidelity)
    ta_ps = check_int(where, "wait_a_ps", wait_a_ps, 0)
    tb_ps = check_int(where, "wait_b_ps", wait_b_ps, 0)
    t1 = check_real(where, "t1_s", t1_s, 0.0, low_open=True, allow_inf=True)
    t2 = check_real(where, "t2_s", t2_s, 0.0, 2.0 * t1, low_open=True, allow_inf=True)
    w = (4.0 * f - 1.0) / 3.0
    ta = units.ps_to_seconds(ta_ps)
    tb = units.ps_to_seconds(tb_ps)
    gamma_a = -math.expm1(-ta / t1)
    gamma_b = -math.expm1(-tb / t1)
    coherence = math.exp(-ta / t2) * math.exp(-tb / t2)
    populations = 1.0 + w * (1.0 - gamma_a - gamma_b) + gamma_a * gamma_b * (1.0 + w)
    return populations / 4.0 + 0.5 * w * coherence
