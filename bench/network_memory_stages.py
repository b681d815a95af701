"""Where a ``dqc`` run's memory per link goes: tracemalloc's current and peak bytes at each stage of one run.

Runs ``dqsim run JOB`` in this process with tracemalloc on, and wraps the stages of a ``dqc`` run (load the
job, build the network, plan, the engine run, the links list, the ``links`` table, the output write) to print
the traced bytes held after each and the peak reached inside it, per link of the job's network. One rank.
Slow (tracemalloc roughly doubles the run's time).

    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_stages.py JOB.toml
"""

import functools
import sys
import tempfile
import tracemalloc

from dqsim.cli.main import main
from dqsim.scenarios import dqc

_num_links = [1]


def _report(stage: str) -> None:
    current, peak = tracemalloc.get_traced_memory()
    per = _num_links[0]
    print(f"{stage:<28} held {current / 1e6:8.1f} MB ({current / per:6.0f} B/link)  "
          f"peak inside {peak / 1e6:8.1f} MB ({peak / per:6.0f} B/link)", flush=True)
    tracemalloc.reset_peak()


def _staged(module, name: str, after=None):
    inner = getattr(module, name)

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        _report(f"before {name}")
        result = inner(*args, **kwargs)
        if after is not None:
            after(result)
        _report(f"after {name}")
        return result

    setattr(module, name, wrapper)


def main_bench(job: str) -> None:
    _staged(dqc, "job_network", after=lambda network: _num_links.__setitem__(0, max(network.num_links, 1)))
    _staged(dqc, "plan_dqc")
    _staged(dqc, "run_dqc")
    _staged(dqc, "links_table")
    with tempfile.TemporaryDirectory() as folder:
        tracemalloc.start()
        main(["run", job, "-o", f"{folder}/out.h5", "--quiet"])
        _report("after the output write")
        tracemalloc.stop()


if __name__ == "__main__":
    main_bench(sys.argv[1])
