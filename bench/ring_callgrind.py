"""Instructions per Python function of one warm run of ``bench/network_bench.py``'s ring, under callgrind.

A measurement, not a test: the ring's counterpart of ``bench/chain_callgrind.py``
(read its docstring: trampolines give each wrapped Python function its own
inclusive count; counters are zeroed before each run and dumped after it;
with several ranks the exchange's wait and the collectives poll with 2 ms
sleeps, so that waiting costs few instructions and what is left is work).
The ring (``--nodes``, ``--rounds``, ``--free``; small states, one
communication qubit per node, seed 1234) runs ``--runs`` times in the
process, the first a warm-up. Rank 0 prints the run's engine counts (events,
exchanges, flushes) and each rank its own event count, so a table can be
read per rank.

Usage (from the repository root; ``OUT`` an existing folder)::

    valgrind --tool=callgrind --callgrind-out-file=OUT/cg-1r-%p.out \\
        .venv/bin/python bench/ring_callgrind.py --out-dir OUT
    .venv/bin/mpiexec -n 2 valgrind --tool=callgrind --callgrind-out-file=OUT/cg-2r-%p.out \\
        .venv/bin/python -m mpi4py bench/ring_callgrind.py --out-dir OUT
    .venv/bin/python bench/chain_callgrind.py --table OUT/cg-1r-*.out.2 OUT/cg-2r-*.out.2 --out-dir OUT

Results of 2026-12-05: ``bench/results/network_ranks-vm-20261205.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chain_callgrind import WRAPPED as CHAIN_WRAPPED  # noqa: E402
from chain_callgrind import build_trampolines, poll_waits, wrap_all  # noqa: E402

#: Functions called through a trampoline: the chain's engine and comm functions (:data:`chain_callgrind.WRAPPED`),
#: then the ring's own hot ones: (module, owner in the module or "", attribute).
WRAPPED = [entry for entry in CHAIN_WRAPPED if entry[0] in ("dqsim.engine.simulator", "dqsim.comm")] + [
    ("dqsim.engine.simulator", "Simulator", "_resume_blocked"),
    ("dqsim.engine.simulator", "", "ops_from_wire"),
    ("dqsim.engine.simulator", "", "wire_ops"),
    ("dqsim.engine.simulator", "", "apply_local_op"),
    ("dqsim.engine.quantum", "QuantumMemory", "carry_local"),
    ("dqsim.protocols.epr", "", "announce_pair"),
    ("dqsim.protocols.epr", "", "emit_pair"),
    ("network_bench", "", "run_once"),
]


def measure(args) -> None:
    import network_bench

    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod

    out_dir = Path(args.out_dir)
    build_dir = out_dir / f"trampolines-{os.environ.get('PMI_RANK', os.environ.get('OMPI_COMM_WORLD_RANK', '0'))}"
    build_dir.mkdir(parents=True, exist_ok=True)
    cgt = build_trampolines(build_dir, len(WRAPPED))
    poll_waits()
    names = {} if args.plain else wrap_all(cgt, WRAPPED)
    comm = comm_mod.init()
    backend = backend_mod.select("numpy")
    ring_args = network_bench.parse_args(["--mode", "worker", "--nodes", str(args.nodes), "--rounds", str(args.rounds),
                                          "--free", args.free, "--seed", str(args.seed)])
    from dqsim.engine import simulator

    mine = {}
    original_run = simulator.Simulator.run

    def run(self, **kwargs):  # (the rank's own event count, before run sums them over ranks)
        original_local = self._run_local

        def counted(*a, **k):
            before = self.stats.num_events
            try:
                return original_local(*a, **k)
            finally:
                mine["events"] = mine.get("events", 0) + self.stats.num_events - before

        self._run_local = counted
        return original_run(self, **kwargs)

    simulator.Simulator.run = run
    for index in range(args.runs):
        if comm.size > 1:
            comm.allgather(None)
        mine.clear()
        cgt.zero()
        record = network_bench.run_once(ring_args, comm, backend)
        cgt.dump(f"run{index}")
    parts = comm.gather(mine.get("events", 0))
    if comm.rank == 0:
        (out_dir / "trampolines.json").write_text(json.dumps(names, indent=1))
        print(json.dumps({key: record[key] for key in ("num_events", "num_windows", "num_flushes", "end_time_ps")}
                         | {"fingerprint": record["outcomes"]["fingerprint"], "events_per_rank": parts}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--free", choices=("measure", "reset"), default="measure")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--runs", type=int, default=2, help="ring runs in the process; each is dumped (default 2)")
    parser.add_argument("--plain", action="store_true", help="wrap nothing: whole-run totals only")
    parser.add_argument("--out-dir", default="callgrind-ring", help="trampolines and their names go here")
    measure(parser.parse_args())
    return 0


if __name__ == "__main__":
    sys.exit(main())
