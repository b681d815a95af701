"""The compiled measurement kernels against the generic NumPy ones (marginal weights, collapse)."""

import numpy as np
import pytest

from dqsim.backend import measure_kernels
from dqsim.state import kernels

pytestmark = pytest.mark.skipif(not measure_kernels.available(), reason="numba missing")


def _cases(rng):
    # (n, bits): shards from 2 to 2^13 amplitudes, bits below, across and above the block bits.
    for n in (1, 2, 3, 4, 5, 8, 13):
        for m in range(1, min(n, 4) + 1):
            for _ in range(4):
                yield n, [int(b) for b in rng.choice(n, size=m, replace=False)]
    yield 13, [12, 0, 7]
    yield 13, list(range(10))


@pytest.mark.parametrize("precision", [np.complex128, np.complex64])
def test_weights_and_collapse_match_the_generic_kernels(precision):
    rng = np.random.default_rng(7)
    for n, bits in _cases(rng):
        psi = (rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)).astype(precision)
        tol = 1e-12 if precision == np.complex128 else 2e-5
        expected = kernels.probabilities_of_bits(np, psi, n, bits)
        np.testing.assert_allclose(measure_kernels.bits_weights(psi, bits), expected, rtol=tol, atol=tol,
                                   err_msg=f"n={n} bits={bits}")
        values = [int(v) for v in rng.integers(0, 2, size=len(bits))]
        want = psi.copy()
        for b, v in zip(bits, values):
            kernels.zero_where(want, n, b, 1 - v)
        want *= 1.25
        got = psi.copy()
        measure_kernels.collapse(got, bits, values, 1.25)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"n={n} bits={bits} values={values}")


def test_weights_refuse_too_many_bits():
    with pytest.raises(ValueError, match="at most"):
        measure_kernels.bits_weights(np.zeros(1 << 12, complex), list(range(measure_kernels.MAX_BITS + 1)))


def test_weights_sum_in_a_fixed_order():
    """Stripes add in order: the same shard gives the same float64 bits whatever is measured alongside."""
    rng = np.random.default_rng(2)
    psi = rng.normal(size=1 << 16) + 1j * rng.normal(size=1 << 16)
    first = measure_kernels.bits_weights(psi, [15, 3])
    assert np.array_equal(first, measure_kernels.bits_weights(psi.copy(), [15, 3]))
    assert first.sum() == pytest.approx(np.vdot(psi, psi).real, rel=1e-12)
