"""The engine runs a job takes, known before its run (``SCENARIOS[...].engine_runs``), so that ``dqsim resume``
refuses a checkpoint of a run the job never reaches before it starts.

Each example job (made small) runs in this process with a checkpoint session that writes nothing; the count
of engine runs the session handed out must equal the scenario's ``engine_runs(job)`` (``cloud``: at most it).
"""

import pytest

from dqsim import backend as backend_mod
from dqsim import jobs, scenarios
from dqsim.comm import SingleComm
from dqsim.engine import checkpoint
from mpi_helper import ROOT

#: (job file, --set overrides, the engine runs expected by hand).
CASES = [
    ("quickstart.toml", ["simulation.shots=10"], 1),
    ("dqc_teleport_feedforward.toml", ["simulation.shots=3"], 3),  # mid-circuit measurements: one run per shot
    ("dqc_ghz_4qpu.toml", ["simulation.trajectories=2", "simulation.shots=10"], 2),
    ("bb84_distance_sweep.toml", ["qkd.pulses=100000", "qkd.batch_pulses=100000", "qkd.block_pulses=100000",
                                  "qkd.sweep.distances_km=[0.0, 10.0, 20.0]"], 3),
    ("ising_trotter_4qpu.toml", ["evolution.num_points=2", "simulation.trajectories=2",  # t = 0 and 2 points
                                 "simulation.shots=10"], 6),
    ("repeater_chain.toml", ["chain.num_pairs=2", "chain.num_links=[1, 2]", "chain.total_distance_km=[10.0, 20.0]"],
     4),  # every number of links with every distance
    # noisy links (pairs of fidelity 0.97): at most min(trajectories, shots) runs per user job, 8 jobs; a job on
    # one QPU uses no link and runs once
    ("cloud_queue.toml", ["network.link.source_fidelity=0.97", "simulation.trajectories=2"], 16),
]


@pytest.mark.parametrize("name, overrides, expected", CASES, ids=[case[0] for case in CASES])
def test_the_engine_runs_known_before_a_run_are_those_it_takes(tmp_path, name, overrides, expected):
    job = jobs.apply_overrides(jobs.load_job(ROOT / "jobs" / name),
                               [*overrides, f"run.output=\"{tmp_path / 'out.h5'}\""])
    counted = scenarios.SCENARIOS[job.scenario].engine_runs(job)
    session = checkpoint.CheckpointSession(directory=tmp_path, prefix="x", job_text=job.text, meta={})
    scenarios.run_job(job, comm=SingleComm(), backend=backend_mod.select("numpy"), checkpointing=session)
    assert counted == expected
    if job.scenario == "cloud":  # an upper bound
        assert 1 <= session.engine_runs <= counted
    else:
        assert session.engine_runs == counted
