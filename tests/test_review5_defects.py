"""Defects found by review5 (2026-12-07 (night)), fixed the same night.

* R5-1: ``ChainSection.fidelity_warning`` says a single-click link's pairs of fidelity at most 1/2 are "not
  entangled", but a single-click pair is not Bell-diagonal: at 50 km with ``dark_count_rate_hz = 4e7`` its
  fidelity is 0.43 and its partial transpose has a negative eigenvalue (Peres, Phys. Rev. Lett. 77, 1413 (1996)):
  it is entangled.
"""

from __future__ import annotations

import numpy as np

from dqsim.jobs import load_job_text
from dqsim.network import entanglement

SINGLE_CLICK = ('[run]\nname = "x"\nscenario = "repeater"\nseed = 1\n[chain]\nnum_pairs = 10\nnum_links = [1]\n'
                'total_distance_km = [50.0]\n[chain.link]\nscheme = "single_click"\ndark_count_rate_hz = 4e7\n')


def _least_partial_transpose_eigenvalue(link) -> float:
    rho = np.asarray(entanglement.delivered_state(
        link.scheme, bright_state_alpha=link.bright_state_alpha, source_fidelity=link.source_fidelity,
        arm_transmittance=link.arm_transmittance, dark_count_probability=link.dark_count_probability)).reshape(4, 4)
    transposed = rho.reshape(2, 2, 2, 2).transpose(0, 3, 2, 1).reshape(4, 4)
    return float(np.linalg.eigvalsh(transposed).min())


def test_an_entangled_single_click_pair_is_not_called_unentangled():
    job = load_job_text(SINGLE_CLICK)
    link = job.chain.link_spec(1, 50.0)
    assert link.delivered_fidelity <= 0.5
    assert _least_partial_transpose_eigenvalue(link) < -0.01  # entangled (PPT criterion)
    lines = [line for line in job.warnings() if "at most 1/2" in line]
    assert lines and "still entangled" in lines[0] and "not entangled" not in lines[0]


def test_a_separable_bell_diagonal_pair_is_still_called_unentangled():
    job = load_job_text(SINGLE_CLICK.replace('scheme = "single_click"', 'scheme = "double_click"')
                        .replace("dark_count_rate_hz = 4e7", "dark_count_rate_hz = 1e9"))
    link = job.chain.link_spec(1, 50.0)
    assert link.delivered_fidelity <= 0.5 and not link.delivered_entangled
    assert [line for line in job.warnings() if "not entangled, so no end-to-end pair is" in line]
