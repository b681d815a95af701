"""``dqsim plot`` of a ``repeater`` run: delivered pair rate against distance (or links).

Log scale. With several total distances in the ``summary`` table the x axis
is the distance and each chain length is one series; with one distance it
is the number of links. Direct transmission over the whole distance and the
PLOB bound −log2(1−η) (Pirandola et al., Nat. Commun. 8, 15043 (2017)) are
drawn per second at the run's reference rate (see
:mod:`dqsim.scenarios.repeater`), so all curves are pairs (ebits) per second.
"""

from __future__ import annotations

import numpy as np

from dqsim.errors import DqsimError


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
    direct = np.asarray(summary["direct_rate_hz"], dtype=float)
    plob = np.asarray(summary["plob_rate_hz"], dtype=float)
    reference = run.attrs.get("reference_rate_hz")
    note = f" at {float(reference):.3g} channel uses/s" if reference is not None else ""
    by_distance = len(np.unique(distance)) > 1
    if by_distance:
        order = np.argsort(distance, kind="stable")
        first = np.unique(distance[order], return_index=True)[1]
        x_line = distance[order][first]
        ax.semilogy(x_line, plob[order][first], "k--", label=f"PLOB bound −log2(1−η){note}")
        ax.semilogy(x_line, direct[order][first], "k:", label="direct transmission η × rate")
        for index, n in enumerate(np.unique(links)):
            mine = links == n
            sel = np.argsort(distance[mine], kind="stable")
            ax.semilogy(distance[mine][sel], rate[mine][sel], f"C{index}o-",
                        label=f"{n} link{'s' if n != 1 else ''}")
        ax.set_xlabel("total distance (km)")
        drawn = "delivered rate vs distance"
    else:
        sel = np.argsort(links, kind="stable")
        ax.semilogy(links[sel], plob[sel], "k--", label=f"PLOB bound −log2(1−η){note}")
        ax.semilogy(links[sel], direct[sel], "k:", label="direct transmission η × rate")
        ax.semilogy(links[sel], rate[sel], "C0o-", label=f"repeater chain, {distance[0]:g} km")
        ax.set_xticks(np.unique(links))
        ax.set_xlabel("number of links")
        drawn = "delivered rate vs number of links"
    ax.set_ylabel("end-to-end pairs (ebits) per second")
    ax.legend(fontsize=8)
    return drawn
