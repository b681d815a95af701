"""``dqsim plot`` for ``trotter`` runs: an observable against time.

Networked (markers), noiseless Trotter (line) and exact (dashed, when the run
computed it) from the ``observables`` table; with a sweep, the networked
curve of every swept value from the ``sweep`` table as well. A file of
``dqsim merge`` (a ``task`` column) gets one set of curves per task, labelled by
the swept keys of its ``tasks`` table (:mod:`dqsim.cli.plot_tasks`). The caller owns
the figure (and imports matplotlib); this module only draws on ``ax``. The y axis names the
observable's unit from the table's ``unit`` column where it has one (files written before 2026-12-06 do
not; their energies are in the unit of ``J`` and ``h`` too).
"""

from __future__ import annotations

import numpy as np

from dqsim.cli import plot_tasks
from dqsim.errors import DqsimError

__all__ = ["draw", "default_observable"]

#: Preferred observables, in order, when none is named.
_PREFERRED = ("magnetization", "staggered_magnetization", "correlation", "energy", "loschmidt")

_LABELS = {
    "magnetization": "magnetisation ⟨Z⟩ (mean over sites)",
    "staggered_magnetization": "staggered magnetisation (1/N) Σ (−1)^i ⟨Z_i⟩",
    "correlation": "nearest-neighbour ⟨Z_i Z_j⟩ (mean over bonds)",
    "energy": "energy ⟨H⟩",
    "loschmidt": "Loschmidt echo |⟨ψ0|ψ(t)⟩|²",
}


def default_observable(available) -> str:
    """``"magnetization"`` when the run has it, else the first of the others it has."""
    available = [str(a) for a in available]
    for name in _PREFERRED:
        if name in available:
            return name
    if not available:
        raise DqsimError("the trotter run has no observables to plot")
    return available[0]


def draw(run, ax, observable: str | None = None) -> str:
    """Draw ``observable`` against time for a ``trotter`` run on the matplotlib axes ``ax``.

    Args:
        run: a :class:`dqsim.io.RunFile` of the ``trotter`` scenario.
        ax: matplotlib axes.
        observable: one of the run's observables; default ``magnetization``
            (else the first the run has).

    Returns:
        What was drawn, e.g. ``"magnetization vs time"``.

    Raises:
        DqsimError: the run has no ``observables`` table, or not this observable.
    """
    if "observables" not in run.tables:
        raise DqsimError(f"{run.path}: no 'observables' table (not a trotter run?)")
    table = run.table("observables")
    names = [str(n) for n in np.unique(table["observable"])]
    chosen = observable or default_observable(names)
    if chosen not in names:
        raise DqsimError(f"{run.path}: observable {chosen!r} is not in the run; it has {', '.join(names)}")
    rows = table[table["observable"] == chosen]
    unit = str(rows["unit"][0]) if "unit" in (rows.dtype.names or ()) and len(rows) else "1"  # (none before 2026-12-06)
    if "task" in (rows.dtype.names or ()) and len(np.unique(rows["task"])) > 1:
        _draw_tasks(run, ax, rows)
        return _finish(run, ax, chosen, f"{chosen} vs time, one curve per task of the merged file", unit)
    order = np.argsort(rows["time"])
    rows = rows[order]
    t = np.asarray(rows["time"], dtype=float)
    exact = np.asarray(rows["exact"], dtype=float)
    if np.any(np.isfinite(exact)):
        ax.plot(t, exact, "k--", label="exact (diagonalisation)")
    ax.plot(t, np.asarray(rows["trotter"], dtype=float), "C1-", label="Trotter (monolithic, noiseless)")
    ax.plot(t, np.asarray(rows["networked"], dtype=float), "C0o", label="networked QPUs")
    if "sweep" in run.tables:
        sweep = run.table("sweep")
        sweep = sweep[sweep["observable"] == chosen]
        values = list(dict.fromkeys(float(v) for v in sweep["value"]))
        parameter = str(sweep["parameter"][0]) if len(sweep) else run.attrs.get("sweep_parameter", "")
        for index, value in enumerate(values):
            part = sweep[sweep["value"] == value]
            part = part[np.argsort(part["time"])]
            ax.plot(np.asarray(part["time"], dtype=float), np.asarray(part["networked"], dtype=float),
                    ".-", color=f"C{2 + index % 8}", alpha=0.8, label=f"networked, {parameter} = {value:g}")
    return _finish(run, ax, chosen, f"{chosen} vs time", unit)


def _finish(run, ax, chosen: str, drawn: str, unit: str = "1") -> str:
    ax.set_xlabel("time t (ħ = 1)")
    ax.set_ylabel(_LABELS.get(chosen, chosen) + (f" [{unit}]" if unit != "1" else ""))
    model = run.attrs.get("model")
    if model:
        ax.set_title(str(model), fontsize=9)
    ax.legend(fontsize=7)
    return drawn


def _draw_tasks(run, ax, rows) -> None:
    """A merged file's observable rows: each task's Trotter line, exact (dashed) and networked markers in a colour
    of its own (the tasks' runs differ: their points would otherwise be joined into one zigzag)."""
    labels = plot_tasks.task_labels(run)
    for index, task in enumerate(int(t) for t in np.unique(rows["task"])):
        part = rows[rows["task"] == task]
        part = part[np.argsort(part["time"])]
        t, colour = np.asarray(part["time"], dtype=float), f"C{index % 10}"
        label = labels.get(task, f"task {task}")
        exact = np.asarray(part["exact"], dtype=float)
        if np.any(np.isfinite(exact)):
            ax.plot(t, exact, "--", color=colour, alpha=0.5)
        ax.plot(t, np.asarray(part["trotter"], dtype=float), "-", color=colour, label=f"{label}: Trotter")
        ax.plot(t, np.asarray(part["networked"], dtype=float), "o", color=colour, label=f"{label}: networked")
    ax.plot([], [], "k--", alpha=0.5, label="exact (dashed, each task's colour)")
