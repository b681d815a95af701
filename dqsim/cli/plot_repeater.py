"""``dqsim plot`` of a ``repeater`` run: end-to-end rates against distance (or links).

Log scale. With several total distances in the ``summary`` table the x axis
is the distance and each chain length is one series; with one distance it
is the number of links. Each series draws the ebits per second that hashing
distils from the delivered pairs (``ebit_rate_hz``, solid; see
:mod:`dqsim.scenarios.repeater`) and the raw rate of delivered pairs of any
fidelity (``rate_hz``, dashed, faint). The PLOB bound −log2(1−η_fibre) of the
fibre alone (Pirandola et al., Nat. Commun. 8, 15043 (2017)), which bounds the
ebit rate, and direct transmission η (raw pairs; coupling and detectors
included) are drawn per second at the run's one reference rate, in black, or,
in a merged file whose tasks' fibres differ (``link.attenuation_db_per_km``
swept, say), per task in the colour of its first series and named after it
(dash-dotted and dotted). Configurations whose pairs distil nothing (ebit rate 0) have no solid
point. Files written before ``ebit_rate_hz`` existed show the raw rate only.
A file of ``dqsim merge`` draws each task's rates as series of their own,
labelled by the keys its tasks differ in (:mod:`dqsim.cli.plot_tasks`), unless
they differ only in ``chain.num_links`` or ``chain.total_distance_km``.
"""

from __future__ import annotations

import numpy as np

from dqsim.cli import plot_tasks
from dqsim.errors import DqsimError

#: The job keys that set a row's place on the x axis: tasks of a merged file that differ only in these share a
#: series (a sweep over distance or chain length split into tasks).
X_AXIS_KEYS = ("chain.num_links", "chain.total_distance_km")


def _positive(values: np.ndarray) -> np.ndarray:
    """``values`` with zeros as NaN (a log axis cannot show them)."""
    return np.where(values > 0, values, np.nan)


def _first_per_x(x: np.ndarray, mine: np.ndarray) -> np.ndarray:
    """Indices of the rows of ``mine`` with the first row of each value of ``x``, in increasing ``x``."""
    order = np.flatnonzero(mine)[np.argsort(x[mine], kind="stable")]
    return order[np.unique(x[order], return_index=True)[1]]


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
        groups = [(f"{n} link{'s' if n != 1 else ''}", links == n) for n in np.unique(links)]
        ax.set_xlabel("total distance (km)")
        drawn = "end-to-end rates vs distance"
    else:
        groups = [(f"repeater chain, {distance[0]:g} km", np.ones(len(links), dtype=bool))]
        ax.set_xticks(np.unique(links))
        ax.set_xlabel("number of links")
        drawn = "end-to-end rates vs number of links"
    series = plot_tasks.task_series(run, summary, leave_out=X_AXIS_KEYS)
    if len(series) > 1:
        drawn += ", one series per task of the merged file"
    fibre = "η_fibre" if "fibre_transmittance" in summary.dtype.names else "η"  # older runs: η with detectors
    curves = [(task, f"{task}: {label}" if task else label, in_task & mine)
              for task, in_task in series for label, mine in groups]
    curves = [curve for curve in curves if np.any(curve[2])]
    shared = plot_tasks.references_agree(x, [plob, direct], series)
    for number, (task, in_task) in enumerate(series):
        line = _first_per_x(x, in_task)
        if shared:  # one black pair of lines serves every task (drawn again where the tasks' links agree)
            ax.semilogy(x[line], plob[line], "k--",
                        label=f"PLOB bound −log2(1−{fibre}) (ebits){note}" if number == 0 else "_nolegend_")
            ax.semilogy(x[line], direct[line], "k:",
                        label="direct transmission η (raw pairs)" if number == 0 else "_nolegend_")
            continue
        # the tasks' fibres differ (loss, say): each task's lines in the colour of its first curve, named
        colour = f"C{next(i for i, curve in enumerate(curves) if curve[0] == task) % 10}"
        ax.semilogy(x[line], plob[line], "-.", color=colour, linewidth=1,
                    label=f"{task}: PLOB bound −log2(1−{fibre}) (ebits){note}")
        ax.semilogy(x[line], direct[line], ":", color=colour, label=f"{task}: direct transmission η (raw pairs)")
    for index, (_, label, mine) in enumerate(curves):
        sel = np.flatnonzero(mine)[np.argsort(x[mine], kind="stable")]
        colour = f"C{index % 10}"
        if ebits is not None:
            ax.semilogy(x[sel], ebits[sel], f"{colour}o-", label=f"{label}: ebits (hashing)")
            ax.semilogy(x[sel], rate[sel], f"{colour}--", alpha=0.5, label=f"{label}: raw pairs")
        else:
            ax.semilogy(x[sel], rate[sel], f"{colour}o-", label=f"{label}: raw pairs")
    ax.set_ylabel("per second: ebits (solid), raw pairs (dashed)")
    ax.legend(fontsize=7)
    return drawn
