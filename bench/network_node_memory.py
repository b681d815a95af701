"""Where a ``dqc`` run's bytes per node go: tracemalloc snapshots of one run, grouped by allocating line.

Runs ``dqsim run`` of the 4-qubit GHZ job of :mod:`bench.network_memory_peak` (one data and two communication
qubits per node, 1 km links, 1,000 shots) over a line (or ``--topology``) of N nodes in this process, one rank,
with tracemalloc on (one frame), and takes a snapshot at the engine run's start and one at its end
(:meth:`dqsim.engine.simulator.Simulator.run` wrapped). Prints, for each, the traced bytes per node and the
allocating lines holding most of them (bytes and objects per node), then the peak RSS of the process. Slow
(tracemalloc roughly doubles the run's time); the bytes per node are those held, not the process's peak.

    PYTHONPATH=$PWD .venv/bin/python bench/network_node_memory.py --nodes 65536 [--top 25]
"""

import argparse
import functools
import resource
import sys
import tempfile
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from network_memory_peak import JOB  # noqa: E402

from dqsim.cli.main import main  # noqa: E402
from dqsim.engine import simulator  # noqa: E402


def _show(stage: str, snapshot: tracemalloc.Snapshot, num_nodes: int, top: int) -> None:
    stats = snapshot.statistics("lineno")
    total = sum(s.size for s in stats)
    print(f"{stage}: {total / 1e6:.1f} MB traced, {total / num_nodes:,.0f} B/node", flush=True)
    for s in stats[:top]:
        frame = s.traceback[0]
        name = "/".join(Path(frame.filename).parts[-2:])
        print(f"  {s.size / num_nodes:8.1f} B/node {s.count / num_nodes:6.2f} obj/node  {name}:{frame.lineno}")


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=65536)
    parser.add_argument("--topology", default="line")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    inner = simulator.Simulator.run

    @functools.wraps(inner)
    def run(self, *a, **k):
        _show("engine start", tracemalloc.take_snapshot(), args.nodes, args.top)
        result = inner(self, *a, **k)
        _show("engine end", tracemalloc.take_snapshot(), args.nodes, args.top)
        return result

    simulator.Simulator.run = run
    with tempfile.TemporaryDirectory() as folder:
        job = Path(folder) / "job.toml"
        job.write_text(JOB.format(topology=args.topology, nodes=args.nodes))
        tracemalloc.start()
        main(["run", str(job), "-o", f"{folder}/out.h5", "--quiet"])
        tracemalloc.stop()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB (with tracemalloc)")


if __name__ == "__main__":
    main_bench()
