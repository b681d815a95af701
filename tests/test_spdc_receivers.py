"""An SPDC source's BBM92/E91 link behind receivers with a dead time and afterpulses (dqsim/protocols/qkd/
spdc_receivers.py): the O(d) solution against the receivers' full joint chain, the one-pair closed form where the sides
are independent, and drawn links (bench/spdc_dead_time.py draws 10^6 slots a case: bench/results/
qkdspdc-vm-20261207s.md)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dqsim.errors import DqsimError
from dqsim.protocols.qkd import entangled, spdc, spdc_receivers


def _full_chain(c_a: float, c_b: float, c_ab: float, dead: int, p: float) -> tuple[float, ...]:
    """``(π(RR), π(RF), π(FR), π(FF))`` of the two receivers' joint chain, all ``(d + 2)²`` states, solved densely:
    a side is R (0), F (1) or blind with k slots left (k + 1), as :func:`dqsim.protocols.qkd.bb84.register_clicks`
    moves it."""
    size = dead + 2

    def moves(state: int, registers: int) -> list[tuple[int, float]]:
        if state >= 2:
            return [(state - 1, 1.0)] if state > 2 else [(1, p), (0, 1.0 - p)]
        if registers:
            return [(dead + 1, 1.0)] if dead else [(1, p), (0, 1.0 - p)]
        return [(0, 1.0)]

    joint = {(1, 1): c_ab, (1, 0): c_a - c_ab, (0, 1): c_b - c_ab, (0, 0): 1.0 - c_a - c_b + c_ab}
    step = np.zeros((size * size, size * size))
    for a in range(size):
        for b in range(size):
            for (x, y), prob in joint.items():
                reg_a, reg_b = (1 if s == 1 else (click if s == 0 else 0) for s, click in ((a, x), (b, y)))
                for to_a, p_a in moves(a, reg_a):
                    for to_b, p_b in moves(b, reg_b):
                        step[a * size + b, to_a * size + to_b] += prob * p_a * p_b
    system = np.vstack([step.T - np.eye(size * size), np.ones(size * size)])
    pi = np.linalg.lstsq(system, np.r_[np.zeros(size * size), 1.0], rcond=None)[0].reshape(size, size)
    return pi[0, 0], pi[0, 1], pi[1, 0], pi[1, 1]


@pytest.mark.parametrize("c_a, c_b, c_ab, dead, p", [(0.3, 0.2, 0.1, 0, 0.3), (0.3, 0.2, 0.1, 1, 0.0),
                                                     (0.3, 0.2, 0.06, 4, 0.3), (0.05, 0.1, 0.02, 7, 0.05),
                                                     (0.6, 0.6, 0.55, 12, 0.2), (0.01, 0.5, 0.005, 9, 0.5)])
def test_the_awake_probabilities_are_those_of_the_full_joint_chain(c_a, c_b, c_ab, dead, p):
    assert spdc_receivers.awake_probabilities(c_a, c_b, c_ab, dead, p) == pytest.approx(
        _full_chain(c_a, c_b, c_ab, dead, p), abs=1e-12)


@pytest.mark.parametrize("dead, p", [(0, 0.05), (3, 0.0), (40, 0.05), (500, 0.02)])
def test_independent_sides_give_the_product_of_their_renewal_rates(dead, p):
    """With ``c_AB = c_A·c_B`` (one pair a slot) the chain's coincidences are ``ρ_A·ρ_B`` of
    :func:`entangled.registered_side`."""
    c_a, c_b = 0.07, 0.3
    rr, rf, fr, ff = spdc_receivers.awake_probabilities(c_a, c_b, c_a * c_b, dead, p)
    rates = entangled.registered_side(c_a, dead, p)[0] * entangled.registered_side(c_b, dead, p)[0]
    assert c_a * c_b * rr + c_a * rf + c_b * fr + ff == pytest.approx(rates, rel=1e-10)


CHANNEL = dict(transmittance_alice=0.5, transmittance_bob=0.4, efficiency=0.9, dark_count_probability=1e-3,
               misalignment=0.02, werner=0.97)


def test_without_dead_time_and_afterpulses_it_is_pair_statistics():
    assert spdc_receivers.registered_pair_statistics(0.3, dead_time_pulses=0, afterpulse_probability=0.0,
                                                     **CHANNEL) == spdc.pair_statistics(0.3, **CHANNEL)
    with pytest.raises(DqsimError, match="mean_pair_number"):
        spdc_receivers.registered_pair_statistics(None, dead_time_pulses=1, afterpulse_probability=0.0, **CHANNEL)


#: 400,000 slots of a link whose slots often hold several pairs (μ = 0.5: both sides click together 4.5 times as
#: often as independent sides would) behind 20-slot dead times with 5 % afterpulses, seed 5.
SLOTS = 400_000


@pytest.mark.parametrize("protocol", ["bbm92", "e91"])
def test_the_closed_form_matches_a_drawn_link(protocol):
    """Coincidences per slot within 4 standard errors of the draw's mean over 20 pieces (its registrations are
    correlated over ~d + 1/c slots, ~25 here; a piece is 20,000) and the QBER within 4 binomial ones; the guess
    that treats the sides as independent renewal processes (``ρ_A·ρ_B``) is more than 20 of them off."""
    mu, dead, p = 0.5, 20, 0.05
    batch_of = entangled.bbm92_batch if protocol == "bbm92" else entangled.e91_batch
    channel = {key: CHANNEL[key] for key in CHANNEL if key != "werner"}
    batch = batch_of(np, entangled.EntangledSource(werner=CHANNEL["werner"], mean_pair_number=mu), seed=5,
                     start_pair=0, num_pairs=SLOTS, dead_time_pulses=dead, afterpulse_probability=p, **channel)
    pieces = (batch.alice_detected & batch.bob_detected).reshape(20, -1).mean(axis=1)
    error = pieces.std(ddof=1) / math.sqrt(20)
    coincidence, qber = spdc_receivers.registered_pair_statistics(mu, dead_time_pulses=dead,
                                                                  afterpulse_probability=p, **CHANNEL)
    assert abs(pieces.mean() - coincidence) <= 4 * error, (pieces.mean(), coincidence, error)
    counts = entangled.sifted_statistics(batch)
    assert abs(counts.qber - qber) <= 4 * math.sqrt(qber * (1 - qber) / counts.num_sifted), (counts.qber, qber)
    detect = [t * CHANNEL["efficiency"] for t in (CHANNEL["transmittance_alice"], CHANNEL["transmittance_bob"])]
    clicks = [1 - spdc._silent_squeezed_vacuum([(side, 0), (side, 1)], detect, (0.0, 0.0), mu, 0.0)
              * (1 - CHANNEL["dark_count_probability"]) ** 2 for side in (0, 1)]
    independent = math.prod(entangled.registered_side(c, dead, p)[0] for c in clicks)
    assert abs(independent - coincidence) > 20 * error


@pytest.mark.parametrize("dead, p", [(1, 0.0), (3, 0.2), (12, 0.5)])
def test_repro_a_dark_count_every_slot_gives_the_dense_chains_coincidences_and_a_qber_of_one_half(dead, p):
    """Review 7, R7-2: a click probability of 1 was taken as ``1 - 1e-12``, where the sweep loses every digit: a
    dark count probability of 1 gave ``(0.0, nan)``. Now it is taken as :func:`spdc_receivers.click_cap` (d), and the
    coincidences are those of the full joint chain solved densely at that click probability (both sides click in
    the same slots: ``c_AB = c_A = c_B``), within ``1e-5`` (the coincidences weigh the chain's states with the
    click probabilities of 1); every registered slot holds double clicks, whose bits are random."""
    p_c, q = spdc_receivers.registered_pair_statistics(
        0.5, dead_time_pulses=dead, afterpulse_probability=p, transmittance_alice=0.5, transmittance_bob=0.5,
        efficiency=1.0, dark_count_probability=1.0)
    c = spdc_receivers.click_cap(dead)
    rr, rf, fr, ff = _full_chain(c, c, c, dead, p)
    assert p_c == pytest.approx(c * (rr + rf + fr) + ff, rel=1e-5)
    assert q == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("dead, p", [(1, 0.05), (40, 0.5), (10_000, 0.05)])
def test_at_the_click_cap_independent_sides_still_give_the_product_of_their_renewal_rates(dead, p):
    """The closed form keeps its digits up to the cap it takes (``1 - 1e-6`` kept none left at d = 40)."""
    c_a, c_b = spdc_receivers.click_cap(dead), 0.5
    rr, rf, fr, ff = spdc_receivers.awake_probabilities(c_a, c_b, c_a * c_b, dead, p)
    rates = entangled.registered_side(c_a, dead, p)[0] * entangled.registered_side(c_b, dead, p)[0]
    assert c_a * c_b * rr + c_a * rf + c_b * fr + ff == pytest.approx(rates, rel=1e-6)
