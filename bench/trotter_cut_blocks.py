"""Pairs, fidelity and CPU of ``[evolution].grouping = "bond"`` with cut blocks teleported (``cut_blocks = "auto"``)
against this morning's circuits (three TeleGates per cut block, the default layer order) on XXZ chains over QPUs.

Variants, each the same job (independent mode, one point at ``T``, lossless links, contiguous blocks of sites):

* ``morning``: ``cut_blocks = "rotations"``: the default layer order [even, (closing,) field, odd] and three
  TeleGates a cut block, the circuits of 2026-12-07 (morning);
* ``order``: the layer order of ``bond_layer_order`` with three TeleGates a block (``cut_blocks = "auto"`` with
  :func:`dqsim.scenarios.trotter.teleported_bonds` made to return no bond by this script);
* ``new``: the default, ``cut_blocks = "auto"`` (a cut block one teleported gate, two pairs) and that order;
* ``pauli``: the default grouping, for scale.

Printed per case: EPR pairs to ``T`` and per step, ``fidelity_to_trotter`` (networked state against its own
noiseless Trotter state; ideal links: 1 to rounding), ``1 − F`` of the Trotter state to the exact one, the
largest difference of the observables new vs order (the same product formula: rounding), and the CPU seconds of
one run of each variant (``time.process_time``, median of ``REPEATS`` alternated runs). Then one noisy case:
Werner pairs of fidelity 0.95, mean ``fidelity_to_trotter`` over ``TRAJECTORIES`` trajectories, morning vs new.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/trotter_cut_blocks.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_trotter_physics import job_text  # noqa: E402  (the review's job writer)

from dqsim import backend as backend_mod  # noqa: E402
from dqsim import comm as comm_mod  # noqa: E402
from dqsim.jobs import load_job_text  # noqa: E402
from dqsim.scenarios import trotter as scenario  # noqa: E402

#: (label, sites, boundary, J, h, Δ, initial, QPUs)
CHAINS = [("4-ring Néel", 4, "periodic", 1.0, 0.2, 1.3, "neel", 2),
          ("6-ring Néel", 6, "periodic", 1.0, 0.2, 0.5, "neel", 3),
          ("5-ring Néel", 5, "periodic", 1.0, 0.2, 0.5, "neel", 2),
          ("7-ring Néel", 7, "periodic", 1.0, 0.2, 0.5, "neel", 2),
          ("8-chain Néel", 8, "open", 1.0, 0.3, 1.0, "neel", 2),
          ("5-ring Δ=0", 5, "periodic", 1.0, 0.2, 0.0, "neel", 2)]
T = 2.0
STEPS = (4, 16)
REPEATS = 3
TRAJECTORIES = 100
BACKEND = backend_mod.select("numpy")
_TELEPORTED_BONDS = scenario.teleported_bonds


def text(chain, order: int, steps: int, variant: str, f: float = 1.0, trajectories: int = 1) -> str:
    label, n, boundary, J, h, delta, initial, nodes = chain
    body = job_text(kind="xxz", n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T, points=1,
                    steps=steps, order=order, nodes=nodes, grouping="pauli" if variant == "pauli" else "bond",
                    topology="ring" if nodes > 2 else "line", f=f, trajectories=trajectories,
                    observables=["magnetization", "staggered_magnetization", "energy", "loschmidt"])
    if variant == "morning":
        body = body.replace('grouping = "bond"', 'grouping = "bond"\ncut_blocks = "rotations"')
    return body


def run(chain, order: int, steps: int, variant: str, **kwargs):
    """One run of the variant: its output and CPU seconds."""
    scenario.teleported_bonds = (lambda *args: []) if variant == "order" else _TELEPORTED_BONDS
    try:
        job = load_job_text(text(chain, order, steps, variant, **kwargs))
        start = time.process_time()
        out = scenario.run_job(job, comm=comm_mod.SingleComm(), backend=BACKEND)
        return out, time.process_time() - start
    finally:
        scenario.teleported_bonds = _TELEPORTED_BONDS


def main() -> None:
    variants = ("morning", "order", "new", "pauli")
    print(f"load {os.getloadavg()}; T = {T}, independent mode, one point at T, ideal links")
    print("| chain | QPUs | order | dt | variant | pairs to T | pairs / step | fidelity_to_trotter | 1 − F exact | "
          "CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = []
    for chain in CHAINS:
        for order in (1, 2):
            for steps in STEPS:
                outs, cpu = {}, {v: [] for v in variants}
                for _ in range(REPEATS):  # alternated: the machine's load hits every variant alike
                    for v in variants:
                        outs[v], seconds = run(chain, order, steps, v)
                        cpu[v].append(seconds)
                for v in variants:
                    net = outs[v].tables["network"]
                    print(f"| {chain[0]} | {chain[7]} | {order} | {T / steps:g} | {v} | {net['epr_pairs'][-1]:.0f} | "
                          f"{net['epr_pairs'][-1] / steps:.2f} | {net['fidelity_to_trotter'][-1]:.15f} | "
                          f"{1 - net['trotter_fidelity_to_exact'][-1]:.3e} | {statistics.median(cpu[v]):.3f} |")
                a, b = (outs[v].tables["observables"] for v in ("new", "order"))
                same = max(float(np.max(np.abs(a[c] - b[c]))) for c in ("networked", "trotter"))
                pairs = {v: float(outs[v].tables["network"]["epr_pairs"][-1]) for v in variants}
                summary.append((chain[0], order, T / steps, pairs["new"] / pairs["morning"],
                                pairs["order"] / pairs["morning"], pairs["new"] / pairs["pauli"], same,
                                statistics.median(cpu["new"]) / statistics.median(cpu["morning"]),
                                outs["new"].attrs["trotter_teleported_bonds"]))
    print("\n| chain | order | dt | pairs new / morning | order only / morning | new / pauli | max abs(new − order) "
          "values | CPU new / morning | teleported bonds |\n|---|---|---|---|---|---|---|---|---|")
    for label, order, dt, new, only, pauli, same, ratio, teleported in summary:
        print(f"| {label} | {order} | {dt:g} | {new:.3f} | {only:.3f} | {pauli:.3f} | {same:.1e} | {ratio:.2f} | "
              f"{teleported} |")
    print(f"\nnoisy: Werner pairs F = 0.95, {TRAJECTORIES} trajectories, order 2, dt = {T / 4:g}")
    print("| chain | variant | pairs to T | mean fidelity_to_trotter ± stderr | CPU s |\n|---|---|---|---|---|")
    for chain in (CHAINS[0], CHAINS[2]):
        for v in ("morning", "new"):
            out, seconds = run(chain, 2, 4, v, f=0.95, trajectories=TRAJECTORIES)
            net = out.tables["network"]
            print(f"| {chain[0]} | {v} | {net['epr_pairs'][-1]:.0f} | {net['fidelity_to_trotter'][-1]:.4f} ± "
                  f"{net['fidelity_to_trotter_stderr'][-1]:.4f} | {seconds:.2f} |")
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
