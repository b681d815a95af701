"""``dqsim plot`` of a ``repeater`` run: end-to-end rates against distance (or links).

Log scale. With several total distances in the ``summary`` table the x axis
is the distance and each chain length is one series; with one distance it
is the number of links. Each series draws the ebits per second that hashing
distils from the delivered pairs (``ebit_rate_hz``, solid; see
:mod:`dqsim.scenarios.repeater`) and the raw rate of delivered pairs of any
fidelity (``rate_hz``, dashed, faint). The PLOB bound −log2(1−η_fibre) of the
fibre alone (Pirandola et al., Nat. Commun. 8, 15043 (2017)), which bounds the
ebit rate, and direct transmission η (raw pairs; coupling and detectors
included) are drawn per second at the run's one reference rate. Configurations whose pairs distil nothing (ebit rate 0) have no solid
point. Files written before ``ebit_rate_hz`` existed show the raw rate only.
"""

from __future__ import annotations

import numpy as np

from dqsim.errors import DqsimError


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with zeros as NaN (a log axis cannot show them)."""
    return np.where(values > 0, values, np.nan)


def draw(run, ax) -> str:
    """Draw the rates of ``run`` (a :class:`dqsim.io.RunFile` of a ``repeater`` run) on ``ax``.

    Returns:
        What was drawn, for the command's message.

    Raises:
        DqsimError: the file has no ``summary`` table.
    """
    if "summary" not in run.tables:
        raise DqsimError(f"{run.path}: no 'summary' table (not a repeater run?)")
    summary = run.table("summary")
    links = np.asarray(summary["num_links"], dtype=int)
    distance = np.asarray(summary["total_distance_km"], dtype=float)
    rate = np.asarray(summary["rate_hz"], dtype=float)
    ebits = (_positive(np.asarray(summary["ebit_rate_hz"], dtype=float))
             if "ebit_rate_hz" in summary.dtype.names else None)
    direct = np.asarray(summary["direct_rate_hz"], dtype=float)
    plob = np.asarray(summary["plob_rate_hz"], dtype=float)
    reference = run.attrs.get("reference_rate_hz")
    note = f" at {float(reference):.3g} channel uses/s" if reference is not None else ""
    by_distance = len(np.unique(distance)) > 1
    x = distance if by_distance else links.astype(float)
    if by_distance:
        order = np.argsort(distance, kind="stable")
        first = np.unique(distance[order], return_index=True)[1]
        line = order[first]
        groups = [(f"{n} link{'s' if n != 1 else ''}", links == n) for n in np.unique(links)]
        ax.set_xlabel("total distance (km)")
        drawn = "end-to-end rates vs distance"
    else:
        line = np.argsort(links, kind="stable")
        groups = [(f"repeater chain, {distance[0]:g} km", np.ones(len(links), dtype=bool))]
        ax.set_xticks(np.unique(links))
        ax.set_xlabel("number of links")
        drawn = "end-to-end rates vs number of links"
    fibre = "η_fibre" if "fibre_transmittance" in summary.dtype.names else "η"  # older runs: η with detectors
    ax.semilogy(x[line], plob[line], "k--", label=f"PLOB bound −log2(1−{fibre}) (ebits){note}")
    ax.semilogy(x[line], direct[line], "k:", label="direct transmission η (raw pairs)")
    for index, (label, mine) in enumerate(groups):
        sel = np.flatnonzero(mine)[np.argsort(x[mine], kind="stable")]
        if ebits is not None:
            ax.semilogy(x[sel], ebits[sel], f"C{index}o-", label=f"{label}: ebits (hashing)")
            ax.semilogy(x[sel], rate[sel], f"C{index}--", alpha=0.5, label=f"{label}: raw pairs")
        else:
            ax.semilogy(x[sel], rate[sel], f"C{index}o-", label=f"{label}: raw pairs")
    ax.set_ylabel("per second: ebits (solid), raw pairs (dashed)")
    ax.legend(fontsize=7)
    return drawn
