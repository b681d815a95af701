"""Read a repeater run file into pandas: rates and fidelities per chain, with units.

    python examples/analyse_repeater.py out/chain.h5        # a run of jobs/repeater_chain.toml
    python examples/analyse_repeater.py out/t2/merged.h5    # or a dqsim merge of runs with --set (a T2 sweep, say)

Needs the analysis extra: pip install 'dqsim[analysis]'. Prints, per configuration (and per task of a merged
file, with the keys its task swept): links, length, pairs, rate_hz, the steady rate from the pairs' delivery
times, (N - 1) / (t_N - t_1) (rate_hz counts the run from t = 0, where the first round needs no notice from
end B: docs/outputs.md), the mean fidelity with its standard error and the mean memory time. A file of another
scenario is one line on stderr, status 2.
"""

import sys

from dqsim.errors import DqsimError
from dqsim.io import open_run

PS_PER_S = 1e12


def steady_rates(pairs) -> "pandas.Series":
    """Per (task,) config: (N - 1) / (t_N - t_1) from the delivery times, pairs/s (NaN with one pair)."""
    keys = [key for key in ("task", "config") if key in pairs.columns]

    def steady(group) -> float:
        times = group["delivery_time_ps"].sort_values()
        span = times.iloc[-1] - times.iloc[0]
        return (len(times) - 1) / (span / PS_PER_S) if len(times) > 1 and span > 0 else float("nan")

    return pairs.groupby(keys)[["delivery_time_ps"]].apply(steady).rename("steady_rate_hz")


def main(path: str) -> None:
    run = open_run(path)
    if run.attrs.get("scenario") != "repeater" or "summary" not in run.tables:
        raise DqsimError(f"{run.path}: not a repeater run (scenario {run.attrs.get('scenario')!r}); give a run of a "
                         "repeater job or a dqsim merge of them, or read this file with dqsim inspect")
    summary, pairs = run.to_pandas("summary"), run.to_pandas("pairs")
    units = summary.attrs["units"]
    keys = [key for key in ("task", "config") if key in summary.columns]
    memory = pairs.groupby(keys)["memory_time_ps"].mean().rename("mean_memory_time_s") / PS_PER_S
    table = summary.merge(steady_rates(pairs).reset_index(), on=keys).merge(memory.reset_index(), on=keys)
    swept = []
    if "tasks" in run.tables:  # a merged file: each row with the keys its task swept (typed columns)
        tasks = run.to_pandas("tasks")
        swept = [c for c in tasks.columns if "." in c]
        table = table.merge(tasks[["task", *swept]], on="task")
    columns = [*swept, "num_links", "total_distance_km", "num_pairs", "rate_hz", "steady_rate_hz",
               "fidelity_mean", "fidelity_stderr", "mean_memory_time_s"]
    print(f"repeater run {run.attrs['job_name']}: {len(table)} chain(s); rate_hz in {units['rate_hz']}, "
          f"total_distance_km in {units['total_distance_km']}")
    print(table[columns].to_string(index=False))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python examples/analyse_repeater.py RUN.h5")
    try:
        main(sys.argv[1])
    except DqsimError as exc:
        print(f"analyse_repeater.py: error: {exc}", file=sys.stderr)
        sys.exit(2)
