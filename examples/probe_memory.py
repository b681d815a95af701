"""Read a stored pair's exact state with ctx.probe_bell_fidelity / ctx.probe_bell_diagonal (dqsim.api).

Two nodes, alice and bob, joined by a fibre, make one heralded pair and keep it in memories with a
dephasing time T2 (no T1). Alice probes the pair's Bell fidelity and Bell weights at the herald and
again after a wait; the run returns the values in ``run.probes[key]`` (on every rank).

    python examples/probe_memory.py [T2_S] [WAIT_S]
    mpiexec -n 2 python examples/probe_memory.py 0.01 0.002     # alice and bob on two ranks

Theory: pure dephasing multiplies each qubit's coherence by exp(-t/T2) (Nielsen & Chuang, section 8.3.6),
so during the wait both halves decay and 2F - 1 shrinks by exp(-2 WAIT/T2); dephasing turns Phi+ into
Phi- only, so p(Phi+) + p(Phi-) stays as it was.
"""

import json
import math
import sys

from dqsim import comm as comm_mod
from dqsim.api import LinkSpec, epr_initiator, epr_responder, qubit_of, run_node_programs

ALICE, BOB = 0, 1
PS_PER_S = 10**12


def alice(ctx, link, wait_ps):
    """Alice makes the pair, probes it at once and again ``wait_ps`` later (probing changes nothing)."""
    here, there = qubit_of(ALICE, 0, 1), qubit_of(BOB, 0, 1)
    yield from epr_initiator(ctx, BOB, link, here, "pair")
    ctx.probe_bell_fidelity(here, there, "F_herald")
    ctx.probe_bell_diagonal(here, there, "bell_herald")
    yield ctx.wait(wait_ps)
    ctx.probe_bell_fidelity(here, there, "F_later")
    ctx.probe_bell_diagonal(here, there, "bell_later")


def bob(ctx):
    """Bob's side of the heralded pair: he holds his half."""
    yield from epr_responder(ctx, ALICE, qubit_of(BOB, 0, 1), "pair")


def main(t2_s: float = 0.01, wait_s: float = 0.002) -> dict:
    comm = comm_mod.init()
    link = LinkSpec(distance_km=10.0)
    wait_ps = round(wait_s * PS_PER_S)
    run = run_node_programs({ALICE: [(alice, (link, wait_ps))], BOB: [(bob, ())]}, node_names=["alice", "bob"],
                            links={(ALICE, BOB): link}, qubits_per_node=1, comm=comm, seed=3, t2_s=t2_s)
    probes = run.probes  # key -> value, gathered from every rank
    result = {
        "ranks": comm.size, "t2_s": t2_s, "wait_s": wait_s,
        "fidelity_at_herald": probes["F_herald"], "fidelity_later": probes["F_later"],
        "bell_weights_at_herald": list(probes["bell_herald"]), "bell_weights_later": list(probes["bell_later"]),
        "coherence_ratio": (2 * probes["F_later"] - 1) / (2 * probes["F_herald"] - 1),
        "coherence_ratio_theory": math.exp(-2 * wait_ps / PS_PER_S / t2_s),
    }
    if comm.rank == 0:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:]))
