"""An outside review of the QKD physics and post-processing: each test holds a figure to its formula.

Fixed seeds; tolerances are stated in standard errors (s.e.) of the simulated figure. Every test
here failed before the fix it comes with (see the commit that added it).
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.protocols.qkd.reconciliation import postprocess_key


def test_postprocess_key_of_an_empty_block_gives_an_empty_verified_key():
    """A block without a key bit (a far link, few pairs) is no crash: nothing to correct, ℓ = 0."""
    empty = np.zeros(0, dtype=np.uint8)
    done = postprocess_key(empty, empty, qber_estimate=0.5, final_bits_of_leakage=lambda leak: 100 - leak,
                           eps_cor=1e-15, rng=np.random.default_rng(1))
    assert done.num_bits == 0 and done.final_key_bits == 0 and done.leakage_bits == 0
    assert done.verified and done.keys_equal and done.residual_errors == 0
    assert math.isnan(done.f_ec_measured)
