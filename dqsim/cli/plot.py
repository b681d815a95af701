"""``dqsim plot``: a picture of an output file, chosen by what the file holds.

* ``repeater``: delivered rate against distance with direct transmission and
  PLOB (:mod:`dqsim.cli.plot_repeater`);
* ``cloud``: a Gantt chart of QPU occupancy (:mod:`dqsim.cli.plot_cloud`);
* ``trotter``: the chosen observable against time, networked, Trotter and exact
  (:mod:`dqsim.cli.plot_trotter`);
* ``qkd`` with a ``sweep`` table: key rate against distance; with a
  ``block_sizes`` table (finite key) and no sweep: key rate against block
  size; a merge of single-distance runs: key rate against distance (or the
  swept key) from its ``links`` and ``tasks`` tables (:mod:`dqsim.cli.plot_qkd`);
* otherwise a ``counts`` table: the most frequent outcomes as bars.

A file of ``dqsim merge`` gets one series per task, labelled by the keys its
tasks differ in (:mod:`dqsim.cli.plot_tasks`).

matplotlib is imported here only (the ``plot`` extra), with the Agg backend,
so plotting works without a display.
"""

from __future__ import annotations

from pathlib import Path

from dqsim.cli import plot_cloud, plot_qkd, plot_repeater, plot_trotter
from dqsim.errors import DqsimError


def _pyplot():
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        raise DqsimError("dqsim plot needs matplotlib; install the 'plot' extra (pip install 'dqsim[plot]')") from None
    return plt


def _refuse_missing_folder(output: Path) -> None:
    """Raise where ``output``'s folder is missing or a file: an image goes into a folder that exists (until
    2026-12-07 (late afternoon) the folders were made, ``-o /nonexist/x.png`` made ``/nonexist``)."""
    folder = output.parent
    if folder.is_dir():
        return
    in_the_way = next((above for above in (folder, *folder.parents) if above.exists()), None)
    if in_the_way is not None and not in_the_way.is_dir():  # no mkdir -p can make the folder there
        raise DqsimError(f"{output}: cannot write the image: {in_the_way} is a file, not a folder; give -o an "
                         f"image file in a folder that exists")
    raise DqsimError(f"{output}: cannot write the image: its folder {folder} does not exist; make the folder "
                     f"first (mkdir -p {folder}) or give -o an image file in a folder that exists")


def plot_run(run, output: Path) -> str:
    """Draw the figure for ``run`` (a :class:`dqsim.io.RunFile`) into ``output``; returns what was drawn.

    Raises:
        DqsimError: nothing to draw, an image format matplotlib cannot write (told by ``output``'s suffix),
            a folder that does not exist, or a file that cannot be written.
    """
    plt = _pyplot()
    if output.is_dir():  # (before 2026-12-07 (night): "it has no suffix", review3 D8)
        raise DqsimError(f"{output}: is a folder; give -o an image file, e.g. {output / 'figure.png'}")
    _refuse_missing_folder(output)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    formats = fig.canvas.get_supported_filetypes()
    if output.suffix.lower().lstrip(".") not in formats:
        plt.close(fig)
        got = f"the suffix {output.suffix!r}" if output.suffix else "no suffix"
        raise DqsimError(f"{output}: an image file name ends in its format, e.g. .png, .pdf or .svg; it has {got} "
                         f"(formats: {', '.join(sorted(formats))})")
    title = f"{run.attrs.get('job_name', '')} ({run.attrs.get('scenario', '')})"
    scenario = run.attrs.get("scenario")
    if scenario == "trotter":
        drawn = plot_trotter.draw(run, ax)
    elif scenario == "cloud":
        drawn = plot_cloud.draw(run, ax)
    elif scenario == "repeater":
        drawn = plot_repeater.draw(run, ax)
    elif "sweep" in run.tables or "block_sizes" in run.tables or plot_qkd.merged_links_key(run) is not None:
        drawn = plot_qkd.draw(run, ax)
    elif "counts" in run.tables:
        counts = run.table("counts")[:16]
        ax.bar(range(len(counts)), counts["count"])
        ax.set_xticks(range(len(counts)), counts["bitstring"], rotation=70, fontsize=7)
        ax.set_ylabel("shots")
        drawn = "top counts"
    else:
        hint = ("; a qkd run of one distance has no curve: give the job [qkd.sweep].distances_km (key rate vs "
                "distance) or [qkd].security = \"finite_key\" (key rate vs block size), or read it with dqsim inspect"
                if scenario == "qkd" else "")
        if scenario == "qkd" and "tasks" in run.tables:
            hint = ("; a merge of qkd runs of one distance is drawn against the distance or one numeric swept key, "
                    "and its tasks differ in neither: read it with dqsim inspect --table links")
        raise DqsimError(f"{run.path}: nothing to plot (no 'sweep', 'block_sizes' or 'counts' table){hint}")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    try:
        fig.savefig(output)
    except OSError as exc:
        raise DqsimError(f"{output}: cannot write the image ({exc.strerror or exc})") from None
    finally:
        plt.close(fig)
    return drawn
