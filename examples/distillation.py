"""Entanglement distillation written as your own node programs (the public API of dqsim.api).

Two nodes, alice and bob, joined by a fibre. Each round they make two heralded pairs over the
link, distill them into one with BBPSSW (bilateral CNOT, measure the sacrificed pair, compare
the bits), and on success measure the kept pair in Z, X or Y (the basis cycles with the round)
to estimate its fidelity to |Phi+>:  F = (1 + <XX> - <YY> + <ZZ>) / 4.

    python examples/distillation.py [ROUNDS] [SOURCE_FIDELITY]
    mpiexec -n 2 python examples/distillation.py 300 0.8     # alice and bob on two ranks

The results are the same on 1 and 2 ranks. Theory for Werner inputs of fidelity F (Bennett et
al., PRL 76, 722 (1996)): success probability F^2 + 2F(1-F)/3 + 5((1-F)/3)^2, output fidelity
(F^2 + ((1-F)/3)^2) / (success probability).
"""

import json
import sys

from dqsim import comm as comm_mod
from dqsim.api import (LinkSpec, bbpssw_fidelity, bbpssw_success_probability, counter, epr_initiator,
                       epr_responder, purify_end, qubit_of, run_node_programs)

ALICE, BOB = 0, 1
QUBITS_PER_NODE = 2  # slot 0: the kept pair's half, slot 1: the sacrificed pair's half
BASES = ("Z", "X", "Y")


def alice(ctx, link, rounds):
    """Alice's program: she starts each pair (epr_initiator) and sends her outcome to Bob."""
    kept, sacrificed = qubit_of(ALICE, 0, QUBITS_PER_NODE), qubit_of(ALICE, 1, QUBITS_PER_NODE)
    for r in range(rounds):
        yield from epr_initiator(ctx, BOB, link, kept, ("kept", r))
        yield from epr_initiator(ctx, BOB, link, sacrificed, ("sacrificed", r))
        if (yield from purify_end(ctx, BOB, kept, sacrificed, r, first=True)):
            (bit,) = yield ctx.measure([kept], basis=BASES[r % 3])
            ctx.send(BOB, ("outcome", r), bit)
        ctx.reset([kept, sacrificed])


def bob(ctx, rounds):
    """Bob's program: the responder of each pair; he compares the outcomes and counts."""
    kept, sacrificed = qubit_of(BOB, 0, QUBITS_PER_NODE), qubit_of(BOB, 1, QUBITS_PER_NODE)
    for r in range(rounds):
        yield from epr_responder(ctx, ALICE, kept, ("kept", r))
        yield from epr_responder(ctx, ALICE, sacrificed, ("sacrificed", r))
        if (yield from purify_end(ctx, ALICE, kept, sacrificed, r, first=False)):
            basis = BASES[r % 3]
            (bit,) = yield ctx.measure([kept], basis=basis)
            theirs = yield ctx.receive(("outcome", r))
            ctx.count((basis, "same" if bit == theirs.payload else "different"))
            ctx.count("distilled")
        ctx.reset([kept, sacrificed])


def main(rounds: int = 300, source_fidelity: float = 0.8) -> dict:
    comm = comm_mod.init()
    link = LinkSpec(distance_km=5.0, source_fidelity=source_fidelity)
    run = run_node_programs({ALICE: [(alice, (link, rounds))], BOB: [(bob, (rounds,))]},
                            node_names=["alice", "bob"], links={(ALICE, BOB): link},
                            qubits_per_node=QUBITS_PER_NODE, comm=comm, seed=7)
    correlation = {}
    for basis in BASES:
        same, different = counter(run, (basis, "same")), counter(run, (basis, "different"))
        correlation[basis] = (same - different) / max(same + different, 1)
    fidelity_in = link.delivered_fidelity
    result = {
        "ranks": comm.size, "rounds": rounds, "distilled": counter(run, "distilled"),
        "fidelity_in": fidelity_in,
        "success_fraction": counter(run, "distilled") / rounds,
        "success_probability_theory": bbpssw_success_probability(fidelity_in),
        "fidelity_out": (1 + correlation["X"] - correlation["Y"] + correlation["Z"]) / 4,
        "fidelity_out_theory": bbpssw_fidelity(fidelity_in),
        "correlations": correlation, "simulated_time_ps": run.end_time_ps,
    }
    if comm.rank == 0:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(*(f(a) for f, a in zip((int, float), sys.argv[1:])))
