"""``dqsim plot``: a picture of an output file, chosen by what the file holds.

* ``repeater``: delivered rate against distance with direct transmission and
  PLOB (:mod:`dqsim.cli.plot_repeater`);
* ``cloud``: a Gantt chart of QPU occupancy (:mod:`dqsim.cli.plot_cloud`);
* ``trotter``: the chosen observable against time, networked, Trotter and exact
  (:mod:`dqsim.cli.plot_trotter`);
* a ``sweep`` table (QKD distance sweep): secret key rate per pulse against
  distance, with the PLOB bound −log2(1−η) (Pirandola et al., Nat. Commun.
  8, 15043 (2017)) on the same axes, log scale;
* otherwise a ``counts`` table: the most frequent outcomes as bars.

matplotlib is imported here only (the ``plot`` extra), with the Agg backend,
so plotting works without a display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dqsim.cli import plot_cloud, plot_repeater, plot_trotter
from dqsim.errors import DqsimError


def _pyplot():
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise DqsimError("dqsim plot needs matplotlib; install the 'plot' extra (pip install 'dqsim[plot]')") from None
    return plt


def plot_run(run, output: Path) -> str:
    """Draw the figure for ``run`` (a :class:`dqsim.io.RunFile`) into ``output``; returns what was drawn."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    title = f"{run.attrs.get('job_name', '')} ({run.attrs.get('scenario', '')})"
    scenario = run.attrs.get("scenario")
    if scenario == "trotter":
        drawn = plot_trotter.draw(run, ax)
    elif scenario == "cloud":
        drawn = plot_cloud.draw(run, ax)
    elif scenario == "repeater":
        drawn = plot_repeater.draw(run, ax)
    elif "sweep" in run.tables:
        sweep = run.table("sweep")
        distance = sweep["distance_km"]
        rate = np.asarray(sweep["key_rate_bits_per_pulse"], dtype=float)
        plob = np.asarray(sweep["plob_bits_per_pulse"], dtype=float)
        positive = rate > 0
        ax.semilogy(distance, plob, "k--", label="PLOB bound −log2(1−η) of the fibre")
        if "plob_with_detectors_bits_per_pulse" in sweep.dtype.names:
            ax.semilogy(distance, np.asarray(sweep["plob_with_detectors_bits_per_pulse"], dtype=float), "k:",
                        label="PLOB with the detectors' efficiency")
        if "theory_bits_per_pulse" in sweep.dtype.names:
            theory = np.asarray(sweep["theory_bits_per_pulse"], dtype=float)
            ax.semilogy(distance[theory > 0], theory[theory > 0], "C1-", label="GLLP asymptotic formula")
        ax.semilogy(distance[positive], rate[positive], "C0o-", label="simulated (decoy estimate)")
        zero = ~positive
        if np.any(zero):
            floor = max(float(np.min(rate[positive])) / 10 if np.any(positive) else 1e-12, 1e-14)
            ax.semilogy(distance[zero], np.full(int(zero.sum()), floor), "C3x", label="no key")
        ax.set_xlabel("distance (km)")
        ax.set_ylabel("secret key rate (bits per pulse)")
        ax.legend()
        drawn = "key rate vs distance"
    elif "counts" in run.tables:
        counts = run.table("counts")[:16]
        ax.bar(range(len(counts)), counts["count"])
        ax.set_xticks(range(len(counts)), counts["bitstring"], rotation=70, fontsize=7)
        ax.set_ylabel("shots")
        drawn = "top counts"
    else:
        raise DqsimError(f"{run.path}: nothing to plot (no 'sweep' or 'counts' table)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output)
    plt.close(fig)
    return drawn
