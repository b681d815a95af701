"""Heralded pairs on a network where a detour is shorter than a link; saves what each end saw (rank 0).

Usage: python herald_link_check.py OUT.npz [PLACEMENT ...]

Nodes a, b, c: link a-b of 100 km (double click), a-c of 1 km (direct) and c-b of 1 km (single click), so
the route of least length from a to b is a-c-b (2 km) and not the a-b link. Every link makes two pairs
(a initiates on a-b and a-c, c on c-b), one after the other; every node has its own classical processing
delay and memories with T2 = 1 ms. Each end logs, when it acts on a herald, the pair's herald and emission
times, and probes the pair's Bell fidelity then. Runs once per PLACEMENT ("0,1,1": node i on that rank;
"default"), in one launch, and saves placement i's arrays as ``p<i>_<name>``.
"""

import sys
import zlib

import numpy as np

from dqsim import comm as comm_mod
from dqsim.engine.simulator import Simulator
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.protocols.epr import epr_initiator, epr_responder

#: Node names and their classical processing delays, ps.
NAMES = ("a", "b", "c")
PROCESSING_DELAY_PS = (1_000_000, 3_000_000, 0)

#: (initiator, responder, link) of each link: a-b much longer than the detour a-c-b.
LINKS = (
    (0, 1, LinkSpec(distance_km=100.0, dark_count_rate_hz=0.0)),
    (0, 2, LinkSpec(distance_km=1.0, scheme="direct", dark_count_rate_hz=0.0)),
    (2, 1, LinkSpec(distance_km=1.0, scheme="single_click", dark_count_rate_hz=0.0)),
)

#: Pairs made one after the other on each link.
PAIRS_PER_LINK = 2


def qubits_of(link_index: int) -> tuple[int, int]:
    """The initiator's and the responder's memory of link ``link_index``: two qubits per link."""
    return 2 * link_index, 2 * link_index + 1


def qubit_owner() -> list[int]:
    """Node of every qubit (:func:`qubits_of`)."""
    return [node for initiator, responder, _link in LINKS for node in (initiator, responder)]


def detour_network(num_ranks: int = 1, placement=None) -> Network:
    """The a-b-c network of this script."""
    nodes = [NodeSpec(name=name, t2_s=1e-3, classical_processing_delay_ps=delay)
             for name, delay in zip(NAMES, PROCESSING_DELAY_PS)]
    return Network.from_links(nodes, [(a, b, link) for a, b, link in LINKS], num_ranks=num_ranks,
                              placement=placement)


def end(ctx, link_index: int, role: str):
    """One end of link ``link_index``'s pairs: make them one after the other, log and probe each at the herald."""
    initiator, responder, link = LINKS[link_index]
    mine = qubits_of(link_index)[0 if role == "initiator" else 1]
    for pair in range(PAIRS_PER_LINK):
        tag = ("pair", link_index, pair)
        if role == "initiator":
            result = yield from epr_initiator(ctx, responder, link, mine, tag)
        else:
            result = yield from epr_responder(ctx, initiator, mine, tag)
        ctx.log("acted", f"{link_index}.{pair} herald={result.herald_ps} created={result.created_ps} "
                         f"attempts={result.attempts}")
        ctx.probe_bell_fidelity(*qubits_of(link_index), f"{link_index}.{pair}.{role}")
        yield ctx.wait(5_000_000)  # both ends keep their memory 5 µs (the other end has probed by then)
        ctx.reset([mine])


def run(comm, placement=None, *, seed: int = 7):
    """Run every link's pairs; returns ``(timeline on rank 0, probes, end time ps)``."""
    network = detour_network(comm.size, placement)
    sim = Simulator(network, comm=comm, state=None, qubit_owner=qubit_owner(), num_data_qubits=0, seed=seed)
    for index, (initiator, responder, _link) in enumerate(LINKS):
        sim.spawn(initiator, end, index, "initiator")
        sim.spawn(responder, end, index, "responder")
    stats = sim.run()
    return sim.gather_timeline(), sim.gather_probes(), stats.end_time_ps


def main(out_path, placements):
    from guard import each_placement  # beside this script (not on the path of the doctest pass)

    comm = comm_mod.init()
    arrays = {}
    for index, placement in each_placement(placements):
        timeline, probes, end_ps = run(comm, placement)
        if comm.rank == 0:
            keys = sorted(probes)
            arrays.update({
                f"p{index}_time_ps": np.array([t for t, _n, _k, _d in timeline]),
                f"p{index}_node": np.array([n for _t, n, _k, _d in timeline]),
                f"p{index}_what": np.array([zlib.crc32(f"{k}:{d}".encode()) for _t, _n, k, d in timeline]),
                f"p{index}_probe_keys": np.array(keys),
                f"p{index}_probes": np.array([probes[key] for key in keys]),
                f"p{index}_end_ps": np.array([end_ps]),
            })
    if comm.rank == 0:
        np.savez(out_path, **arrays)


if __name__ == "__main__":
    from guard import run_guarded

    run_guarded(main, sys.argv[1], sys.argv[2:])
