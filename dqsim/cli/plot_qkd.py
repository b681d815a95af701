"""``dqsim plot`` for QKD runs: key rate against distance, or against block size.

* a ``sweep`` table (distance sweep): secret key rate per pulse against
  distance, with the PLOB bound −log2(1−η) (Pirandola et al., Nat. Commun. 8,
  15043 (2017)) over the fibre and with the detectors, the asymptotic formula
  (GLLP for BB84; for BBM92/E91 the SPDC model of
  :mod:`dqsim.protocols.qkd.spdc` at the job's source and at the optimal mean
  pair number μ*), log scale;
* else a ``block_sizes`` table (``security = "finite_key"``): the finite-key
  rate against block size at the run's measured statistics
  (:func:`dqsim.protocols.qkd.postprocess.finite_key_rates`), one curve per
  link and distance, with the simulated blocks as points.
"""

from __future__ import annotations

import numpy as np


def _draw_distance(run, ax) -> str:
    sweep = run.table("sweep")
    names = sweep.dtype.names
    distance = sweep["distance_km"]
    rate = np.asarray(sweep["key_rate_bits_per_pulse"], dtype=float)
    positive = rate > 0
    ax.semilogy(distance, np.asarray(sweep["plob_bits_per_pulse"], dtype=float), "k--",
                label="PLOB bound −log2(1−η) of the fibre")
    if "plob_with_detectors_bits_per_pulse" in names:
        ax.semilogy(distance, np.asarray(sweep["plob_with_detectors_bits_per_pulse"], dtype=float), "k:",
                    label="PLOB with the detectors' efficiency")
    bb84 = run.attrs.get("protocol", "bb84_decoy") == "bb84_decoy"
    if "theory_bits_per_pulse" in names:
        theory = np.asarray(sweep["theory_bits_per_pulse"], dtype=float)
        ax.semilogy(distance[theory > 0], theory[theory > 0], "C1-",
                    label="GLLP asymptotic formula" if bb84 else "SPDC model, the job's source")
    if "optimal_theory_bits_per_pulse" in names:
        best = np.asarray(sweep["optimal_theory_bits_per_pulse"], dtype=float)
        if np.any(best > 0):
            ax.semilogy(distance[best > 0], best[best > 0], "C2-.", label="SPDC model at the optimal μ*")
    ax.semilogy(distance[positive], rate[positive], "C0o-", label="simulated" + (" (decoy estimate)" if bb84 else ""))
    zero = ~positive
    if np.any(zero):
        floor = max(float(np.min(rate[positive])) / 10 if np.any(positive) else 1e-12, 1e-14)
        ax.semilogy(distance[zero], np.full(int(zero.sum()), floor), "C3x", label="no key")
    ax.set_xlabel("distance (km)")
    ax.set_ylabel("secret key rate (bits per pulse)")
    ax.legend()
    return "key rate vs distance"


def _draw_block_size(run, ax) -> str:
    sizes = run.table("block_sizes")
    blocks = run.table("blocks") if "blocks" in run.tables else None
    curves = sorted({(float(d), int(k)) for d, k in zip(sizes["distance_km"], sizes["link"])})
    for index, (distance, link) in enumerate(curves[:8]):
        mine = (sizes["distance_km"] == distance) & (sizes["link"] == link)
        n = np.asarray(sizes["block_pulses"][mine], dtype=float)
        rate = np.asarray(sizes["key_rate_bits_per_pulse"][mine], dtype=float)
        ax.loglog(n[rate > 0], rate[rate > 0], f"C{index}-", label=f"{distance:g} km link {link}: Lim et al. bound")
        if blocks is not None:
            done = (blocks["distance_km"] == distance) & (blocks["link"] == link) & (blocks["secret_key_bits"] > 0)
            ax.loglog(np.asarray(blocks["pulses"][done], dtype=float),
                      np.asarray(blocks["key_rate_bits_per_pulse"][done], dtype=float), f"C{index}o",
                      label=f"{distance:g} km link {link}: simulated blocks")
    ax.set_xlabel("block size (pulses)")
    ax.set_ylabel("secret key rate (bits per pulse)")
    ax.legend(fontsize=7)
    return "key rate vs block size"


def draw(run, ax) -> str:
    """Draw a QKD run on ``ax``: the distance sweep if there is one, else key rate vs block size."""
    if "sweep" in run.tables:
        return _draw_distance(run, ax)
    return _draw_block_size(run, ax)
