"""An SPDC source's BBM92 link behind receivers with a dead time and afterpulses: the closed form against the simulator.

For each case (mean pair number μ, dead time d slots, afterpulse probability p, arms, detectors) draws
``--slots`` pair slots with :func:`dqsim.protocols.qkd.entangled.bbm92_batch` (batches of 2^18 slots, the receivers'
states carried over as a run does) and prints the coincidences per slot (any settings) and the sifted QBER against
:func:`dqsim.protocols.qkd.spdc_receivers.registered_pair_statistics`, each difference in standard errors. The
standard error is that of the mean of ``--pieces`` equal pieces of the draw (batch means: a receiver's registrations
are correlated over ~``d + 1/c`` slots, a few hundred here, far below a piece's length), the QBER's the binomial one
of the sifted bits. Beside it two guesses that treat the sides as independent renewal processes
(:func:`dqsim.protocols.qkd.entangled.registered_side`): the product of their rates ``ρ_A·ρ_B`` (the one-pair
closed form), and that product scaled by ``c_AB/(c_A·c_B)`` (the raw clicks' correlation), to show how far off
either is.

    .venv/bin/python bench/spdc_dead_time.py --slots 1000000
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from dqsim.protocols.qkd import entangled, spdc_receivers
from dqsim.protocols.qkd.spdc import _silent_squeezed_vacuum, pattern_probabilities

#: (μ, dead time slots, afterpulse probability, T_a, T_b, η_d, dark count per detector and slot, e_d, Werner w).
CASES = [
    (0.05, 5, 0.0, 0.3, 0.3, 0.8, 1e-4, 0.01, 0.98),
    (0.05, 100, 0.05, 0.5, 0.3, 0.8, 1e-4, 0.01, 0.98),
    (0.1, 0, 0.05, 0.6, 0.6, 1.0, 0.0, 0.0, 1.0),
    (0.5, 20, 0.05, 0.5, 0.4, 0.9, 1e-3, 0.02, 0.97),
    (0.5, 200, 0.0, 0.6, 0.6, 0.8, 1e-5, 0.01, 0.99),
    (1.0, 50, 0.02, 0.8, 0.8, 0.9, 1e-5, 0.01, 0.99),
    (2.0, 100, 0.05, 0.9, 0.9, 0.9, 1e-5, 0.01, 0.99),
    (2.0, 3, 0.01, 0.1, 0.05, 0.9, 1e-6, 0.02, 0.95),
]
BATCH = 1 << 18


def draw(case, slots: int, pieces: int, seed: int) -> tuple[np.ndarray, int, int]:
    """(coincidences of each of ``pieces`` equal pieces, sifted bits, errors) of ``slots`` drawn slots."""
    mu, dead, p_a, t_a, t_b, eta, dark, e_d, w = case
    source = entangled.EntangledSource(werner=w, mean_pair_number=mu)
    per_slot = np.zeros(slots, dtype=bool)
    sifted = errors = 0
    states = None
    for start in range(0, slots, BATCH):
        batch = entangled.bbm92_batch(np, source, transmittance_alice=t_a, transmittance_bob=t_b, efficiency=eta,
                                      dark_count_probability=dark, seed=seed, start_pair=start,
                                      num_pairs=min(BATCH, slots - start), misalignment=e_d, dead_time_pulses=dead,
                                      afterpulse_probability=p_a, receiver_states=states)
        states = (batch.alice_receiver, batch.bob_receiver)
        per_slot[start:start + batch.num_pairs] = batch.alice_detected & batch.bob_detected
        counts = entangled.sifted_statistics(batch)
        sifted += counts.num_sifted
        errors += counts.num_errors
    return per_slot[: slots // pieces * pieces].reshape(pieces, -1).mean(axis=1), sifted, errors


def guesses(case) -> tuple[float, float]:
    """(ρ_A·ρ_B, ρ_A·ρ_B·c_AB/(c_A·c_B)): the sides as independent renewal processes."""
    mu, dead, p_a, t_a, t_b, eta, dark, e_d, w = case
    wrong = (e_d, 0.5 * (1.0 - w * (1.0 - 2.0 * e_d)))
    table = pattern_probabilities(lambda s: _silent_squeezed_vacuum(s, (t_a * eta, t_b * eta), wrong, mu, 0.0),
                                  (dark, dark))
    c_a = sum(table[a][b] for a in range(1, 4) for b in range(4))
    c_b = sum(table[a][b] for a in range(4) for b in range(1, 4))
    c_ab = sum(table[a][b] for a in range(1, 4) for b in range(1, 4))
    product = entangled.registered_side(c_a, dead, p_a)[0] * entangled.registered_side(c_b, dead, p_a)[0]
    return product, product * c_ab / (c_a * c_b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=1_000_000)
    parser.add_argument("--pieces", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"{args.slots:,} slots a case, standard errors from {args.pieces} pieces (coincidences), binomial (QBER)")
    print("| μ | d | p_a | coinc./slot drawn | closed form | σ | ρ_A·ρ_B | scaled by c_AB/(c_A·c_B) | QBER drawn | "
          "closed form | σ | closed form s | draw s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for case in CASES:
        mu, dead, p_a, t_a, t_b, eta, dark, e_d, w = case
        start = time.process_time()
        coincidence, qber = spdc_receivers.registered_pair_statistics(
            mu, dead_time_pulses=dead, afterpulse_probability=p_a, transmittance_alice=t_a, transmittance_bob=t_b,
            efficiency=eta, dark_count_probability=dark, misalignment=e_d, werner=w)
        closed = time.process_time() - start
        start = time.process_time()
        pieces, sifted, errors = draw(case, args.slots, args.pieces, args.seed)
        drawn = time.process_time() - start
        mean, error = pieces.mean(), pieces.std(ddof=1) / math.sqrt(args.pieces)
        z_c = (mean - coincidence) / error
        q = errors / sifted
        z_q = (q - qber) / math.sqrt(qber * (1.0 - qber) / sifted)
        worst = max(worst, abs(z_c), abs(z_q))
        product, scaled = guesses(case)
        print(f"| {mu:g} | {dead} | {p_a:g} | {mean:.6f} | {coincidence:.6f} | {z_c:+.2f} | {product:.6f} | "
              f"{scaled:.6f} | {q:.5f} | {qber:.5f} | {z_q:+.2f} | {closed:.4f} | {drawn:.1f} |", flush=True)
    print(f"largest difference: {worst:.2f} standard errors")


if __name__ == "__main__":
    main()
