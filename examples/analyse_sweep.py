"""Read a dqsim run file into pandas and xarray: a QKD distance sweep, with units.

    python examples/analyse_sweep.py out/sweep.h5            # a run of jobs/bb84_distance_sweep.toml
    python examples/analyse_sweep.py out/sweep/merged.h5     # or the merged tasks of a SLURM sweep
    python examples/analyse_sweep.py out/merged.h5           # or a merge of single-distance runs (table links)

Needs the analysis extra: pip install 'dqsim[analysis]'. Prints the key rate against distance
(with the units every table carries), and for a merged sweep the swept keys of each task. A file
it cannot analyse (another scenario, a qkd run of one distance) is one line on stderr, status 2.
"""

import sys

from dqsim.errors import DqsimError
from dqsim.io import open_run


def rates_table(run) -> str:
    """The table holding the key rate per distance: ``sweep`` (a distance sweep), else ``links`` in a merge of
    single-distance runs (each task's rows)."""
    if "sweep" in run.tables:
        return "sweep"
    if "tasks" in run.tables and "links" in run.tables:
        return "links"
    what = run.attrs.get("scenario")
    raise DqsimError(f"{run.path}: no key rates against distance to analyse (scenario {what!r}, no 'sweep' table"
                     f"{', not merged' if what == 'qkd' else ''}); give a qkd run of jobs/bb84_distance_sweep.toml "
                     "or a dqsim merge of qkd runs, or read this file with dqsim inspect")


def main(path: str) -> None:
    run = open_run(path)
    table = rates_table(run)
    sweep = run.to_pandas(table)  # one column per field; strings are str; units in .attrs
    units = sweep.attrs["units"]
    swept = []
    if "tasks" in run.tables:  # a merged file: join each row with the keys its task swept
        tasks = run.to_pandas("tasks")
        swept = [c for c in tasks.columns if "." in c]  # keys as qkd.sweep.distances_km
        sweep = sweep.merge(tasks[["task", *swept]], on="task")
    best = sweep.loc[sweep["secret_key_bits"].idxmax()]
    print(f"{run.attrs['scenario']} run {run.attrs['job_name']}: {len(sweep)} distances (table {table})")
    print(sweep[[*swept, "distance_km", "qber_signal", "key_rate_bits_per_s"]].to_string(index=False))
    print(f"most key at {best['distance_km']:g} {units['distance_km']}: "
          f"{best['key_rate_bits_per_s']:.3e} {units['key_rate_bits_per_s']}")
    if "blocks" in run.tables:
        blocks = run.to_xarray("blocks")  # an xarray.Dataset: a variable per column along "row"
        rate = blocks["key_rate_bits_per_pulse"]
        print(f"blocks: {blocks.sizes['row']} rows; key_rate_bits_per_pulse in {rate.attrs['units']}, "
              f"mean {float(rate.mean()):.3e}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/analyse_sweep.py RUN.h5")
    try:
        main(sys.argv[1])
    except DqsimError as exc:
        print(f"analyse_sweep.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
