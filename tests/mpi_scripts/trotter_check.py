"""Run the trotter scenario on small versions of the example jobs and save its tables (rank 0).

Usage: python trotter_check.py OUT.npz [MODE]
The test runs it on 1, 2 and 4 ranks and compares the files: ideal links (the
Ising chain on 4 QPUs, 2 trajectories, shots) and noisy pairs (the XXZ ring's
source-fidelity sweep, 2 trajectories; and a 4-site ring of it on 2 QPUs with
``[evolution].grouping = "bond"``). Besides the float columns it saves the
counts, the ``register_qubits`` attribute and the final state (every rank's
copy, so the test sees each rank holds the one a 1-rank run returns).
MODE sets ``[evolution].mode`` (default: the jobs' own, ``"independent"``); several modes, comma-separated
(``default`` for the jobs' own), run one after the other, each mode's arrays named ``MODE/NAME``.
"""

import sys
from pathlib import Path

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import trotter

ROOT = Path(__file__).resolve().parents[2]

JOBS = {
    "ising": ("jobs/ising_trotter_4qpu.toml", ["evolution.num_points=2", "evolution.steps_per_point=1",
                                               "simulation.trajectories=2", "simulation.shots=64"]),
    "xxz": ("jobs/xxz_ring_sweep.toml", ["evolution.num_points=2", "simulation.trajectories=2",
                                         "simulation.sweep={parameter = \"source_fidelity\", values = [0.95]}"]),
    # [evolution].grouping = "bond" (tests/test_trotter_bond.py): a 4-site ring from Néel on 2 QPUs, ideal and noisy
    "xxz_bond": ("jobs/xxz_ring_sweep.toml", ["model.num_sites=4", 'network.topology="line"', "network.num_nodes=2",
                                              "evolution.num_points=2", 'evolution.grouping="bond"',
                                              "simulation.trajectories=2",
                                              'simulation.observables=["magnetization", "energy", "loschmidt"]',
                                              "simulation.sweep={parameter = \"source_fidelity\", values = [0.8]}"]),
}


def main(out_path, modes=None):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    names = modes.split(",") if modes else [None]
    every = {}
    for mode in names:
        results = run_jobs(comm, backend, None if mode == "default" else mode)
        every.update(results if len(names) == 1 else {f"{mode}/{key}": value for key, value in results.items()})
    if comm.rank == 0:
        np.savez(out_path, **every)


def run_jobs(comm, backend, mode):
    """The arrays of both jobs of :data:`JOBS` in ``mode`` (None: the jobs' own), by name (rank 0's: complete)."""
    results = {}
    for label, (path, overrides) in JOBS.items():
        job = apply_overrides(load_job(ROOT / path), overrides + ([f'evolution.mode="{mode}"'] if mode else []))
        out = trotter.run_job(job, comm=comm, backend=backend)
        for table in ("observables", "sites", "network", "sweep", "sweep_network"):
            if table in out.tables:
                data = out.tables[table]
                for name in data.dtype.names:
                    if data.dtype[name].kind == "f":
                        results[f"{label}_{table}_{name}"] = np.asarray(data[name])
        if "counts" in out.tables:
            counts = out.tables["counts"]
            results[f"{label}_counts_bitstring"] = np.array([int(b, 2) for b in counts["bitstring"]], dtype=float)
            results[f"{label}_counts_count"] = np.asarray(counts["count"], dtype=float)
        results[f"{label}_register_qubits"] = np.array([float(out.attrs["register_qubits"])])
        states = comm.gather(out.state.gather() if out.state is not None else None)
        if comm.rank == 0:
            for rank, vector in enumerate(states):
                results[f"{label}_state_rank{rank}"] = np.asarray(vector)
    return results


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        comm_mod.init().abort(1)
