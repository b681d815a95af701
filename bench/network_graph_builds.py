"""Which calls build a networkx graph during a run: every ``networkx.Graph`` made from dqsim code, by call site.

Runs ``dqsim run`` of a few jobs in this process, one rank, with ``networkx.Graph.__init__`` wrapped to record
the dqsim frames that made each graph (the innermost five), and prints, per job, each call site and how many
graphs it made (``none`` where the run made none). The jobs: a 4-qubit GHZ ``dqc`` job
(:data:`network_memory_peak.JOB`) over a 64-node ring, a 8 x 8 grid (GHZ over its corners) and a 64-node line,
and the shipped ``jobs/cloud_queue.toml`` (a ring of 8 QPUs), ``jobs/xxz_ring_sweep.toml`` (``trotter`` on a ring,
with a sweep) and ``jobs/qkd_trusted_chain.toml``, each shortened with ``--set`` where it takes long.

    PYTHONPATH=$PWD .venv/bin/python bench/network_graph_builds.py
"""

import collections
import sys
import tempfile
import traceback
from pathlib import Path

import networkx as nx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from network_memory_peak import JOB  # noqa: E402

from dqsim.cli.main import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

GRID = JOB.replace('topology = "{topology}"\nnum_nodes = {nodes}', 'topology = "grid"\nnum_rows = 8\nnum_cols = 8') + \
    '[distribution]\nassignment = [0, 7, 56, 63]\n'

#: (name, job text or shipped file, extra arguments)
JOBS = [
    ("dqc ring 64", JOB.format(topology="ring", nodes=64) + "[distribution]\nassignment = [0, 20, 40, 60]\n", []),
    ("dqc grid 8x8", GRID, []),
    ("dqc line 64", JOB.format(topology="line", nodes=64) + "[distribution]\nassignment = [0, 20, 40, 60]\n", []),
    ("cloud_queue", ROOT / "jobs" / "cloud_queue.toml", []),
    ("xxz_ring_sweep", ROOT / "jobs" / "xxz_ring_sweep.toml", ["--set", "simulation.trajectories=1"]),
    ("qkd_trusted_chain", ROOT / "jobs" / "qkd_trusted_chain.toml", ["--set", "qkd.pulses=100000", "--set", "qkd.batch_pulses=100000"]),
]

made: collections.Counter = collections.Counter()
_init = nx.Graph.__init__


def _recording_init(self, *args, **kwargs):
    frames = [f for f in traceback.extract_stack()[:-1] if "/dqsim/" in f.filename and "/bench/" not in f.filename]
    if frames:
        made[" <- ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames[-5:]))] += 1
    _init(self, *args, **kwargs)


def main_bench() -> None:
    nx.Graph.__init__ = _recording_init
    with tempfile.TemporaryDirectory() as folder:
        for name, job, extra in JOBS:
            if isinstance(job, str):
                path = Path(folder) / "job.toml"
                path.write_text(job)
            else:
                path = job
            made.clear()
            status = main(["run", str(path), "-o", f"{folder}/out.h5", "--quiet", *extra])
            print(f"{name} (exit {status}):", flush=True)
            for site, count in made.most_common() or [("none", 0)]:
                print(f"  {count:3d}  {site}" if count else "  none", flush=True)
            Path(f"{folder}/out.h5").unlink(missing_ok=True)


if __name__ == "__main__":
    main_bench()
