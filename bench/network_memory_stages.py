"""Where a ``dqc`` run's memory per link goes: tracemalloc's current and peak bytes at each stage of one run.

Runs ``dqsim run JOB`` in this process with tracemalloc on, and wraps the stages of a ``dqc`` run (load the
job, build the network, plan, the engine run, the links list, the ``links`` table, the output write) to print
the traced bytes held after each and the peak reached inside it, per link of the job's network. One rank.
Slow (tracemalloc roughly doubles the run's time).

``--network-ranks P`` instead builds the job's network for P ranks in this process (no run) and traces what each
rank then builds of it, step by step (``dqc.job_network``, the rooted forest, the lookahead's rank distances, the
boundary nodes, the routes and latencies among the first four nodes): held after each, peak inside it, per node,
and its CPU seconds.

    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_stages.py JOB.toml
    PYTHONPATH=$PWD .venv/bin/python bench/network_memory_stages.py JOB.toml --network-ranks 2
"""

import argparse
import functools
import tempfile
import time
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


def network_steps(job_file: str, num_ranks: int) -> None:
    """Traced bytes of each step of a network built for ``num_ranks`` ranks (see the module's docstring)."""
    from dqsim.jobs import load_job

    job = load_job(job_file)
    num_nodes = job.network.resolved_num_nodes()
    tracemalloc.start()

    def step(name, make):
        tracemalloc.reset_peak()
        start = time.process_time()
        result = make()
        seconds = time.process_time() - start
        current, peak = tracemalloc.get_traced_memory()
        print(f"{name:<24} held {current / 1e6:7.1f} MB  peak inside {peak / 1e6:7.1f} MB "
              f"({peak / num_nodes:5.0f} B/node)  {seconds:5.2f} CPU s", flush=True)
        return result

    network = step("job_network", lambda: dqc.job_network(job.network, num_ranks))
    step("rooted forest", lambda: network._tree)
    step("rank distances", network.rank_distance_columns)
    step("boundary nodes", network.boundary_node_indices)
    pairs = [(a, b) for a in range(min(4, num_nodes)) for b in range(min(4, num_nodes)) if a != b]
    step("routes 0-3", lambda: [network.route(a, b) for a, b in pairs])
    step("latencies 0-3", lambda: [network.latency_ps(a, b) for a, b in pairs])
    tracemalloc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job")
    parser.add_argument("--network-ranks", type=int, default=None, metavar="P",
                        help="trace the network's steps for P ranks instead of a run")
    args = parser.parse_args()
    if args.network_ranks:
        network_steps(args.job, args.network_ranks)
    else:
        main_bench(args.job)
