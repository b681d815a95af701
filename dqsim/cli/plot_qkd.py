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
  link and distance, with the simulated blocks as points;
* else a merge of single-distance runs (each task's rates in its ``links``
  rows): key rate against distance as for a ``sweep`` table where the tasks
  span several distances, else against the tasks' one numeric swept key
  (:func:`merged_links_key`), else, where only ``run.seed`` differs
  (repetitions), one point per task (not against the seed).

The bounds are black; in a file of ``dqsim merge`` whose tasks' bounds differ
at a distance (tasks that differ in fibre loss), each task's are drawn in its
colour and named after it.

A file of ``dqsim merge`` draws each task's rows as curves of their own,
labelled by the keys its tasks differ in (:mod:`dqsim.cli.plot_tasks`), unless
they differ only in the distances (:data:`DISTANCE_KEYS`): a distance sweep
split into tasks stays one curve.
"""

from __future__ import annotations

import numpy as np

from dqsim.cli import plot_tasks

#: The job keys that set a row's distance: tasks of a merged file that differ only in these share a series (a
#: distance sweep split into tasks).
DISTANCE_KEYS = ("qkd.sweep.distances_km", "qkd.link.distance_km", "qkd.network.distances_km")


def _draw_distance(run, ax, table: str = "sweep") -> str:
    sweep = run.table(table)
    series = plot_tasks.task_series(run, sweep, leave_out=DISTANCE_KEYS)
    bounds = [sweep[name] for name in ("plob_bits_per_pulse", "plob_with_detectors_bits_per_pulse")
              if name in sweep.dtype.names]
    shared = plot_tasks.references_agree(sweep["distance_km"], bounds, series)
    for number, (label, mine) in enumerate(series):
        part = sweep[mine]
        if "task" in sweep.dtype.names:  # a merged file: its tasks' rows one after another
            part = part[np.argsort(part["distance_km"], kind="stable")]
        _draw_distance_series(run, ax, part, label, number, shared)
    ax.set_xlabel("distance (km)")
    ax.set_ylabel("secret key rate (bits per pulse)")
    ax.legend(**({"fontsize": 7} if len(series) > 1 else {}))
    return "key rate vs distance" + (", one series per task of the merged file" if len(series) > 1 else "")


def _draw_distance_series(run, ax, sweep, task: str, number: int, shared_bounds: bool = True) -> None:
    """One series of the distance plot: ``sweep``'s rows (in increasing distance); ``task`` its label in a merged
    file (``""``: the file's only series, in the colours of an unmerged file), ``number`` its place. The bounds
    are black where every series has the same (``shared_bounds``: lines drawn again where the tasks' fibres
    agree, labelled once), else in the series' colour, named after its task (tasks that differ in fibre loss)."""
    names = sweep.dtype.names
    distance = sweep["distance_km"]
    rate = np.asarray(sweep["key_rate_bits_per_pulse"], dtype=float)
    positive = rate > 0
    prefix = f"{task}: " if task else ""
    colours = ("C1", "C2", "C0") if not task else (f"C{number % 10}",) * 3
    if shared_bounds:
        once, style = ({} if number == 0 else {"label": "_nolegend_"}), {"color": "k"}
    else:
        once, style = {}, {"color": colours[2]}
    named = "" if shared_bounds else prefix
    ax.semilogy(distance, np.asarray(sweep["plob_bits_per_pulse"], dtype=float), "--",
                **{"label": f"{named}PLOB bound −log2(1−η) of the fibre", **once, **style})
    if "plob_with_detectors_bits_per_pulse" in names:
        ax.semilogy(distance, np.asarray(sweep["plob_with_detectors_bits_per_pulse"], dtype=float), ":",
                    **{"label": f"{named}PLOB with the detectors' efficiency", **once, **style})
    bb84 = run.attrs.get("protocol", "bb84_decoy") == "bb84_decoy"
    if "theory_bits_per_pulse" in names:
        theory = np.asarray(sweep["theory_bits_per_pulse"], dtype=float)
        ax.semilogy(distance[theory > 0], theory[theory > 0], f"{colours[0]}-", alpha=0.5 if task else 1.0,
                    label=prefix + ("GLLP asymptotic formula" if bb84 else "SPDC model, the job's source"))
    if "optimal_theory_bits_per_pulse" in names:
        best = np.asarray(sweep["optimal_theory_bits_per_pulse"], dtype=float)
        if np.any(best > 0):
            ax.semilogy(distance[best > 0], best[best > 0], f"{colours[1]}-.",
                        label=prefix + "SPDC model at the optimal μ*")
    ax.semilogy(distance[positive], rate[positive], f"{colours[2]}o-",
                label=prefix + "simulated" + (" (decoy estimate)" if bb84 else ""))
    zero = ~positive
    if np.any(zero):
        floor = max(float(np.min(rate[positive])) / 10 if np.any(positive) else 1e-12, 1e-14)
        ax.semilogy(distance[zero], np.full(int(zero.sum()), floor), f"{'C3' if not task else colours[2]}x",
                    label=prefix + "no key")


def _draw_block_size(run, ax) -> str:
    sizes = run.table("block_sizes")
    blocks = run.table("blocks") if "blocks" in run.tables else None
    series = plot_tasks.task_series(run, sizes, leave_out=DISTANCE_KEYS)
    curves = []  # (label, rows of sizes, rows of blocks): one per series, distance and link
    for task, in_task in series:
        if blocks is None:
            in_blocks = None
        elif "task" in sizes.dtype.names and "task" in blocks.dtype.names:
            in_blocks = np.isin(blocks["task"], np.unique(sizes["task"][in_task]))
        else:
            in_blocks = np.ones(len(blocks), dtype=bool)
        for distance, link in sorted({(float(d), int(k)) for d, k in zip(sizes["distance_km"][in_task],
                                                                          sizes["link"][in_task])}):
            mine = in_task & (sizes["distance_km"] == distance) & (sizes["link"] == link)
            done = (None if blocks is None else in_blocks & (blocks["distance_km"] == distance)
                    & (blocks["link"] == link) & (blocks["secret_key_bits"] > 0))
            curves.append(((f"{task}: " if task else "") + f"{distance:g} km link {link}", mine, done))
    for index, (label, mine, done) in enumerate(curves[:8]):
        n = np.asarray(sizes["block_pulses"][mine], dtype=float)
        rate = np.asarray(sizes["key_rate_bits_per_pulse"][mine], dtype=float)
        ax.loglog(n[rate > 0], rate[rate > 0], f"C{index}-", label=f"{label}: Lim et al. bound")
        if done is not None:
            ax.loglog(np.asarray(blocks["pulses"][done], dtype=float),
                      np.asarray(blocks["key_rate_bits_per_pulse"][done], dtype=float), f"C{index}o",
                      label=f"{label}: simulated blocks")
    ax.set_xlabel("block size (pulses)")
    ax.set_ylabel("secret key rate (bits per pulse)")
    ax.legend(fontsize=7)
    return "key rate vs block size" + (", one series per task of the merged file" if len(series) > 1 else "")


#: Swept keys that repeat a configuration rather than change it: a merge of tasks differing only in them is drawn
#: per task (``"task"``), not against them (since 2026-12-07 (night); before, "key rate vs run.seed", review3 D8).
REPETITION_KEYS = ("run.seed",)


def merged_links_key(run) -> str | None:
    """What a merge of single-distance runs (each task's key rate in its ``links`` rows, no ``sweep`` table) is
    drawn against: ``"distance_km"`` where its links span two distances or more (a distance sweep split into
    tasks), else its one numeric swept key (a column of ``tasks``) that takes two values or more, not counting
    :data:`REPETITION_KEYS`; ``"task"`` where only those differ (repetitions: one point per task); ``None``: no
    such file, or nothing to draw it against."""
    if "tasks" not in run.tables or "links" not in run.tables:
        return None
    links = run.table("links")
    names = links.dtype.names or ()
    if not {"task", "distance_km", "key_rate_bits_per_pulse", "plob_bits_per_pulse"} <= set(names):
        return None
    if len(np.unique(links["distance_km"])) > 1:
        return "distance_km"
    tasks = run.table("tasks")
    numeric = [name for name in tasks.dtype.names if "." in name and tasks.dtype[name].kind in "iuf"
               and len(np.unique(tasks[name])) > 1]
    physical = [name for name in numeric if name not in REPETITION_KEYS]
    if not physical and numeric:
        return "task"  # repetitions of one configuration: not drawn against the seed
    return physical[0] if len(physical) == 1 else None


def _draw_swept_key(run, ax, key: str) -> str:
    """Each link's key rate per pulse against ``key``, a swept key of the merged file's tasks (one distance)."""
    links, tasks = run.table("links"), run.table("tasks")
    value_of = dict(zip(np.asarray(tasks["task"]).tolist(), np.asarray(tasks[key], dtype=float).tolist()))
    x = np.array([value_of[int(t)] for t in links["task"]], dtype=float)
    rate = np.asarray(links["key_rate_bits_per_pulse"], dtype=float)
    for number, link in enumerate(np.unique(links["link"])):
        mine = np.asarray(links["link"] == link)
        order = np.argsort(x[mine], kind="stable")
        xs, ys = x[mine][order], rate[mine][order]
        distance = float(links["distance_km"][mine][0])
        ax.plot(xs, ys, f"C{number % 10}o-", label=f"link {int(link)} ({distance:g} km): simulated")
    if np.any(rate > 0):
        ax.set_yscale("log")
    ax.set_ylabel("secret key rate (bits per pulse)")
    ax.legend(fontsize=7)
    if key == "task":
        ax.set_xlabel(f"task (repetitions: only {', '.join(REPETITION_KEYS)} differs)")
        return (f"key rate per task, one point per task of the merged file (repetitions: only "
                f"{', '.join(REPETITION_KEYS)} differs between them)")
    ax.set_xlabel(key)
    return f"key rate vs {key}, one point per task of the merged file"


def draw(run, ax) -> str:
    """Draw a QKD run on ``ax``: the distance sweep if there is one, else key rate vs block size, else (a merge of
    single-distance runs, :func:`merged_links_key`) key rate vs distance or vs the swept key from ``links``."""
    if "sweep" in run.tables:
        return _draw_distance(run, ax)
    if "block_sizes" in run.tables:
        return _draw_block_size(run, ax)
    key = merged_links_key(run)
    if key == "distance_km":
        return _draw_distance(run, ax, "links")
    return _draw_swept_key(run, ax, key)
