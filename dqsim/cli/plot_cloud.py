"""``dqsim plot`` of a ``cloud`` run: a Gantt chart of QPU occupancy.

One row per QPU (the run file's node names, :meth:`dqsim.io.RunFile.node_names`:
the ``node_names`` dataset, or in a file written before 2026-12-07 (later) the
``node_names`` or ``qpu_names`` attribute; else the QPUs named in the ``jobs``
table), one bar per job on each QPU it held, from its start to its
end (the end includes the results' trip to the user, when the QPUs are
still held), labelled with the job's name; a thin mark at each job's
submission time, joined to its bar by a dotted line, shows how long it waited. Rejected and failed jobs hold no
time and are left out. Only draws on the axes it is given: no matplotlib
import here.
"""

from __future__ import annotations

import math

import numpy as np

from dqsim.errors import DqsimError

#: Largest time shown in one unit before switching to the next (s → ms → µs → ns).
_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))
#: Bar height as a fraction of a row.
_BAR_HEIGHT = 0.7


def _unit(seconds: float) -> tuple[float, str]:
    """Scale and name of the time unit for an axis running to ``seconds``."""
    for scale, name in _UNITS:
        if seconds >= scale:
            return scale, name
    return _UNITS[-1]


def draw(run, ax) -> str:
    """Draw the QPU-occupancy Gantt chart of ``run`` (a :class:`dqsim.io.RunFile`) on ``ax``.

    Args:
        run: a cloud run file (with a ``jobs`` table).
        ax: matplotlib axes.

    Returns:
        What was drawn, for the command's message.

    Raises:
        DqsimError: the file has no ``jobs`` table.
    """
    if "jobs" not in run.tables:
        raise DqsimError(f"{run.path}: not a cloud run (no 'jobs' table)")
    jobs = run.table("jobs")
    # jobs that held QPUs: not rejected (no QPUs, no start) nor failed (released at their start)
    held = [row for row in jobs if row["qpus"] and math.isfinite(float(row["start_s"])) and row["status"] != "failed"]
    names = run.node_names() or list(run.attrs.get("qpu_names") or [])
    for row in held:
        for qpu in str(row["qpus"]).split(","):
            if qpu not in names:
                names.append(qpu)
    row_of = {name: i for i, name in enumerate(names)}
    last = max([float(row["end_s"]) for row in held] + [float(s) for s in jobs["submit_s"]] + [0.0])
    scale, unit = _unit(last)
    colours = {}
    for index, row in enumerate(held):
        colour = colours.setdefault(str(row["name"]), f"C{index % 10}")
        start, end = float(row["start_s"]) / scale, float(row["end_s"]) / scale
        width = max(end - start, last / scale * 1e-3)
        for qpu in str(row["qpus"]).split(","):
            y = row_of[qpu]
            ax.broken_barh([(start, width)], (y - _BAR_HEIGHT / 2, _BAR_HEIGHT), facecolors=colour,
                           edgecolors="black", linewidth=0.5)
            ax.text(start + width / 2, y, str(row["name"]), ha="center", va="center", fontsize=6, clip_on=True)
        rows = [row_of[q] for q in str(row["qpus"]).split(",")]
        submit = float(row["submit_s"]) / scale
        if submit < start:
            y = min(rows) - _BAR_HEIGHT / 2
            ax.plot([submit, start], [y, y], color=colour, linewidth=0.8, linestyle=":", alpha=0.8)
            ax.plot([submit], [y], marker="|", color=colour, markersize=6)
    ax.set_yticks(np.arange(len(names)), names)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlim(0.0, max(last / scale, 1e-12) * 1.02)
    ax.set_xlabel(f"simulated time ({unit})")
    ax.set_ylabel("QPU")
    policy = run.attrs.get("policy", "")
    utilisation = run.attrs.get("utilisation", math.nan)
    ax.set_title(f"QPU occupancy ({policy}, utilisation {float(utilisation):.2f})", fontsize=9)
    return f"QPU occupancy of {len(held)} jobs on {len(names)} QPUs"
