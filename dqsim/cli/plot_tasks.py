"""``dqsim plot`` of a merged file (``dqsim merge``): the tasks its rows come from and their labels.

A merged file has a ``task`` column in every table and a ``tasks`` table with one
column per swept key: each key (``section.key``) that the tasks' ``--set``
overrides set to values that differ between tasks. A plot draws one series per
task, labelled by those keys, so that runs that differ (say in
``chain.purification_rounds``) are not joined into one line. Keys that only
move a task along the plot's x axis (a distance sweep split into tasks) can be
left out of the label: tasks that then agree share one series. Reference
lines that depend on the task (a PLOB bound over a fibre whose loss is one of
the swept keys) are drawn once, in black, where every series has the same
ones (:func:`references_agree`), else once per series in its colour.
"""

from __future__ import annotations

import numpy as np

__all__ = ["task_labels", "task_series", "references_agree"]


def task_labels(run, leave_out=()) -> dict[int, str]:
    """Each task's label in a merged file: its swept keys, ``name = value`` joined by commas.

    Args:
        run: a :class:`dqsim.io.RunFile`.
        leave_out: swept keys (``"qkd.sweep.distances_km"``) not to name.

    Returns:
        task number -> label; the task's file name where the tasks differ in no swept key (tasks merged from
        runs without ``--set``), ``""`` where they differ only in keys of ``leave_out``; ``{}`` for a file that
        is not merged.
    """
    if "tasks" not in run.tables:
        return {}
    tasks = run.table("tasks")
    swept = [name for name in tasks.dtype.names if "." in name]
    named = [name for name in swept if name not in set(leave_out)]
    labels = {}
    for row in tasks:
        words = [f"{name.rsplit('.', 1)[-1]} = {row[name]}" for name in named]
        labels[int(row["task"])] = ", ".join(words) if swept else str(row["file"])
    return labels


def task_series(run, rows, leave_out=()) -> list[tuple[str, np.ndarray]]:
    """The series to draw for ``rows`` (a table of ``run``): one per task of a merged file.

    Tasks whose labels (:func:`task_labels` with ``leave_out``) are the same share a series: with ``leave_out``
    the keys that set the plot's x values, a sweep over them split into tasks stays one line.

    Returns:
        ``(label, mask)`` per series in task order, ``mask`` a bool array over ``rows``; a single ``("", all)``
        for an unmerged file, rows of one task, or tasks that differ only in keys of ``leave_out``.
    """
    everything = [("", np.ones(len(rows), dtype=bool))]
    if "task" not in (rows.dtype.names or ()):
        return everything
    task = np.asarray(rows["task"], dtype=np.int64)
    numbers = [int(t) for t in np.unique(task)]
    if len(numbers) < 2:
        return everything
    labels = task_labels(run, leave_out)
    grouped: dict[str, list[int]] = {}
    for number in numbers:
        grouped.setdefault(labels.get(number, f"task {number}"), []).append(number)
    if len(grouped) < 2:
        return everything
    return [(label, np.isin(task, members)) for label, members in grouped.items()]


def references_agree(x: np.ndarray, references: list[np.ndarray], series: list[tuple[str, np.ndarray]]) -> bool:
    """Whether every series of :func:`task_series` has the same reference values (the PLOB bound, direct
    transmission) at each x it shares with another: then one black line serves them all, else each series needs
    its own (tasks that differ in fibre loss).

    Args:
        x: the rows' x values; references: arrays over the same rows (one per reference line); series:
            ``(label, mask)`` per series.

    Returns:
        ``True`` for one series, or where values at equal x agree to a relative 1e-9 (NaNs equal).

    Examples:
        >>> x = np.array([10.0, 50.0, 10.0, 50.0])
        >>> both = [("a", np.array([1, 1, 0, 0], bool)), ("b", np.array([0, 0, 1, 1], bool))]
        >>> references_agree(x, [np.array([0.5, 0.1, 0.5, 0.1])], both)
        True
        >>> references_agree(x, [np.array([0.5, 0.1, 0.4, 0.05])], both)
        False
    """
    if len(series) < 2:
        return True
    for values in references:
        values = np.asarray(values, dtype=float)
        seen: dict[float, float] = {}
        for _, mask in series:
            for at, value in zip(np.asarray(x, dtype=float)[mask], values[mask]):
                first = seen.setdefault(float(at), float(value))
                if not (np.isnan(first) and np.isnan(value)) and not np.isclose(first, value, rtol=1e-9, atol=0.0):
                    return False
    return True
