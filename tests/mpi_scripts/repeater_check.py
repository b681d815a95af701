"""Run small repeater chains and save what they delivered (rank 0).

Usage: python repeater_check.py OUT.npz [CONFIG ...]
Runs everything once per CONFIG (once with the defaults where none is given), in one launch, and
saves configuration i's arrays as ``c<i>_<name>``. A CONFIG is
PLACEMENT[:EXCHANGE_CPU_S[:STARVED_PEERS_RULE[:PIPELINED_EXCHANGE]]]: PLACEMENT, e.g. "0,1,0,1,0",
puts the nodes of the 4-link chain on ranks ("" or "blocks": contiguous blocks). EXCHANGE_CPU_S
sets the engine's CPU time per exchange (dqsim.engine.simulator.EXCHANGE_CPU_S; "none": the event
count); STARVED_PEERS_RULE "0" turns dqsim.engine.simulator.STARVED_PEERS_RULE off,
PIPELINED_EXCHANGE "0" dqsim.engine.simulator.PIPELINED_EXCHANGE (the lockstep); each
configuration starts from the module's defaults. The test compares the arrays of 1 and 2 ranks with
each other; ``progress_partial`` (rank 0's progress inside each configuration of the job,
``index + delivered / num_pairs``) depends on where exchanges fall and is checked, not compared.
"""

import sys
from pathlib import Path

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.network.link import LinkSpec
from dqsim.network.node import NodeSpec
from dqsim.protocols.repeater import ChainSpec
from dqsim.engine import simulator
from dqsim.scenarios import repeater
from dqsim.units import seconds_to_ps

ROOT = Path(__file__).resolve().parents[2]
NOISY = NodeSpec(name="n", t1_s=0.5, t2_s=0.05, gate_1q_error_probability=0.01, gate_2q_error_probability=0.02,
                 measure_error_probability=0.01)
CHAINS = [
    # nested doubling over 4 links with a cut-off short enough to abandon attempts
    ("nested", ChainSpec(links=[LinkSpec(distance_km=20.0, source_fidelity=0.95)] * 4, node=NOISY,
                         swapping="nested", cutoff_ps=seconds_to_ps(4e-4), num_pairs=8), True),
    # swap-asap over 2 links, one DEJMPS round per link
    ("dejmps", ChainSpec(links=[LinkSpec(distance_km=10.0, source_fidelity=0.85)] * 2, node=NOISY,
                         purification_rounds=1, purification="dejmps", num_pairs=8), False),
    # swap-asap over 4 links pumped once (BBPSSW) with a cut-off that discards kept pairs while they are pumped
    ("pumpcut", ChainSpec(links=[LinkSpec(distance_km=10.0, source_fidelity=0.95)] * 4, node=NOISY,
                          purification_rounds=1, cutoff_ps=seconds_to_ps(5e-4), num_pairs=3), True),
    # the same with the "link" pumping cut-off: a kept pair cut while pumped makes its link alone again
    ("pumplink", ChainSpec(links=[LinkSpec(distance_km=10.0, source_fidelity=0.95)] * 4, node=NOISY,
                           purification_rounds=1, cutoff_ps=seconds_to_ps(5e-4), num_pairs=3,
                           pumping_cutoff="link"), True),
    # cutoff_policy = "link", nested and swap-asap over 4 links: pairs cut, segments discarded, links made again
    ("nestlink", ChainSpec(links=[LinkSpec(distance_km=20.0, source_fidelity=0.95)] * 4, node=NOISY,
                           swapping="nested", cutoff_ps=seconds_to_ps(4e-4), num_pairs=6, cutoff_policy="link"), True),
    ("asaplink", ChainSpec(links=[LinkSpec(distance_km=10.0, source_fidelity=0.95)] * 4, node=NOISY,
                           cutoff_ps=seconds_to_ps(3e-4), num_pairs=6, cutoff_policy="link"), True),
    # single-click links: their pairs are exact 4x4 states (not Werner), sent between ranks in the flushes
    ("single", ChainSpec(links=[LinkSpec(distance_km=10.0, scheme="single_click", bright_state_alpha=0.3)] * 4,
                         node=NOISY, num_pairs=6), True),
    # 40 links, beyond what one state vector of all memories could hold (80 qubits): small states
    ("long", ChainSpec(links=[LinkSpec(distance_km=5.0, source_fidelity=0.99)] * 40, node=NOISY, num_pairs=3),
     False),
]


def run_all(comm, backend, placement) -> dict:
    """The chains' and the example job's results (rank 0's view), nodes placed by ``placement``."""
    results = {}
    for label, chain, placed in CHAINS:
        run = repeater.run_chain(chain, comm=comm, backend=backend, seed=5,
                                 placement=placement if placed else None)
        results[f"{label}_delivery_ps"] = np.array([p.delivery_ps for p in run.pairs])
        results[f"{label}_fidelity"] = run.fidelities
        results[f"{label}_restarts"] = np.array([p.restarts for p in run.pairs])
        results[f"{label}_attempts"] = np.array([p.link_attempts_total for p in run.pairs])
        results[f"{label}_memory_time"] = np.array([p.memory_time_ps for p in run.pairs])
        results[f"{label}_engine"] = np.array([run.engine.num_events, run.engine.num_messages,
                                               run.engine.counters.get(("swaps", 1), 0),
                                               sum(v for k, v in run.engine.counters.items() if k[0] == "unswaps")])
    job = apply_overrides(load_job(ROOT / "jobs" / "repeater_chain.toml"),
                          ["chain.num_pairs=4", "chain.total_distance_km=[100.0, 300.0]"])
    partial = []  # rank 0's fractions inside a configuration (pairs delivered / num_pairs, summed over ranks)
    out = repeater.run_job(job, comm=comm, backend=backend, on_progress=None if comm.rank else (
        lambda done, total, what: partial.append(done) if not float(done).is_integer() else None))
    results["progress_partial"] = np.array(partial, dtype=np.float64)
    for name in ("pairs", "summary"):
        table = out.tables[name]
        for field in table.dtype.names:
            results[f"job_{name}_{field}"] = np.asarray(table[field])
    return results


def main(out_path, configs):
    comm = comm_mod.init()
    backend = backend_mod.select("auto", node_local_rank=comm.node_local_rank)
    defaults = simulator.EXCHANGE_CPU_S, simulator.STARVED_PEERS_RULE, simulator.PIPELINED_EXCHANGE
    results = {}
    for index, config in enumerate(configs or [""]):
        spec, cpu_s, starved, pipelined = (config.split(":") + [None] * 3)[:4]
        simulator.EXCHANGE_CPU_S, simulator.STARVED_PEERS_RULE, simulator.PIPELINED_EXCHANGE = defaults
        if cpu_s not in (None, "none"):
            simulator.EXCHANGE_CPU_S = float(cpu_s)
        if starved is not None:
            simulator.STARVED_PEERS_RULE = starved != "0"
        if pipelined is not None:
            simulator.PIPELINED_EXCHANGE = pipelined != "0"
        placement = [int(x) for x in spec.split(",")] if spec not in ("", "blocks") else None
        for key, value in run_all(comm, backend, placement).items():
            results[f"c{index}_{key}"] = value
    if comm.rank == 0:
        np.savez(out_path, **results)


if __name__ == "__main__":
    from guard import run_guarded  # beside this script

    run_guarded(main, sys.argv[1], sys.argv[2:])
