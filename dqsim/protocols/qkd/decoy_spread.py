"""How far an asymptotic decoy-state key rests on the decoy's counting statistics (review finding A).

With ``security = "asymptotic"`` a block's single-photon phase-error bounds e1,Z^U and e1,X^U are Ma et al.'s
formulas applied to the block's observed frequencies (X. Ma, B. Qi, Y. Zhao, H.-K. Lo, PRA 72, 012326 (2005),
eq. (37); Lim et al., PRA 89, 022307 (2014), eq. (3) for two decoys), not bounds at the block's size: where the
decoy class of a basis has few errors, e1^U fluctuates below the true e1 (to 0 when the decoy bits show no error,
or when the decoy's error gain fluctuated below e0·Y0), and the key then charges too little phase error.

:func:`raised_decoy_key` recomputes the block's key with each basis's weak-decoy error count ``m`` raised by
``k`` of its standard errors, ``sqrt(m + 1)``: the standard deviation of a Poisson mean given ``m`` counts (its
posterior under a flat prior, Gamma(m + 1), whose variance is m + 1; unlike the plug-in ``sqrt(m)`` it is not 0
when no error was seen). A key that loses more than :data:`KEY_DROP_WARN` of itself that way rests on the
decoy's counting noise; the scenario warns of it (``scenarios/qkd.py``). The finite-key mode
(``security = "finite_key"``, Lim et al.'s bounds at the block's size) is what to use for claims.
"""

from __future__ import annotations

import math

from dqsim.protocols.qkd.decoy import basis_single_photon_error_upper
from dqsim.protocols.qkd.theory import key_entropy

#: Standard errors k by which :func:`raised_decoy_key` raises each basis's weak-decoy error count.
DECOY_ERROR_STANDARD_ERRORS = 2.0

#: Fraction of a block's asymptotic key whose loss under :func:`raised_decoy_key` is warned of.
KEY_DROP_WARN = 0.5


def raised_error_count(errors: int, k: float = DECOY_ERROR_STANDARD_ERRORS) -> float:
    """The error count ``m`` raised by ``k`` standard errors ``sqrt(m + 1)`` (see the module docstring).

    Examples:
        >>> raised_error_count(0), raised_error_count(8)
        (2.0, 14.0)
    """
    return errors + k * math.sqrt(errors + 1)


def raised_decoy_key(counts, source, result, k: float = DECOY_ERROR_STANDARD_ERRORS) -> tuple[float, float] | None:
    """A BB84 block's asymptotic key before and after raising its weak-decoy error counts by ``k`` s.e.

    The key is ``Σ_b n_1,b^L·[1 - h(e1,b'^U)] - leakage`` over the bases b (GLLP; each basis's single-photon
    bits charged the phase error the other basis's decoy errors bound, :func:`estimate_block
    <dqsim.protocols.qkd.postprocess.estimate_block>`), with the block's own ``n_1^L`` share, Y1^L, Y0 and
    leakage; only the weak decoy's (class 1) error count of each basis is raised
    (:func:`raised_error_count`), capped at its sifted bits.

    Args:
        counts: the block's :class:`~dqsim.protocols.qkd.postprocess.BlockCounts`.
        source: the :class:`~dqsim.protocols.qkd.bb84.DecoySource`.
        result: the block's :class:`~dqsim.protocols.qkd.postprocess.BlockResult` (asymptotic).
        k: standard errors, >= 0.

    Returns:
        ``(key, raised key)`` in bits (unfloored, the raised one at least 0), or ``None`` where the block has
        no decoy estimate, no sifted signal bit or a finite-key result.
    """
    decoy = result.decoy
    if decoy is None or result.finite_key is not None or not result.num_sifted_signal_bits \
            or result.phase_error_upper is None:
        return None
    single = result.num_single_photon_bits_lower / result.num_sifted_signal_bits
    nu = source.intensities[1]
    gain_decoy = counts.detected[1] / counts.sent[1] if counts.sent[1] else 0.0
    second = {}
    if decoy.method == "two_decoy":
        second = dict(second_decoy_intensity=source.intensities[2],
                      gain_second_decoy=counts.detected[2] / counts.sent[2] if counts.sent[2] else 0.0)
    bound = {}
    for basis, sifted, errors in (("z", counts.sifted_z, counts.errors_z), ("x", counts.sifted_x, counts.errors_x)):
        if not sifted[1]:
            bound[basis] = 1.0
            continue
        extra = dict(second, qber_second_decoy=errors[2] / sifted[2] if sifted[2] else None) if second else {}
        bound[basis] = basis_single_photon_error_upper(
            decoy, decoy_intensity=nu, gain_decoy=gain_decoy,
            qber_decoy=min(1.0, raised_error_count(errors[1], k) / sifted[1]), **extra)
    phase = (bound["x"], bound["z"])  # the Z bits' phase error is the X basis's bit error, and back
    raised = sum(single * n * (1.0 - key_entropy(e))
                 for n, e in zip((counts.sifted_z[0], counts.sifted_x[0]), phase))
    return result.single_photon_secrecy_bits - result.leakage_bits, max(0.0, raised - result.leakage_bits)
