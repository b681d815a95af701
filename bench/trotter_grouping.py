"""What ``[evolution].grouping = "bond"`` costs and gains against the default ``"pauli"`` on XXZ chains over QPUs.

For each chain, order and dt the same job runs with both groupings (independent mode, one time point at
``T``, ideal lossless links, contiguous blocks of sites on the QPUs) and the script prints, from the output
tables: the TeleGates (= EPR pairs on these links) of the run to ``T``, the Trotter state's infidelity to
the exact one ``1 − F`` (``trotter_fidelity_to_exact``), the drift of the total magnetisation ``⟨Σ Z_i⟩/N``
and the energy error ``|⟨H⟩_trotter − ⟨H⟩_0|``, then the ratios bond / pauli of pairs and of ``1 − F``.
No timings: the figures are counts and physics, the same on any machine.

    OMP_NUM_THREADS=1 PYTHONPATH=$PWD .venv/bin/python bench/trotter_grouping.py
"""

from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from review_trotter_physics import job_text, run  # noqa: E402  (the review's job writer and one-rank runner)

#: (label, sites, boundary, J, h, Δ, initial, QPUs)
CHAINS = [("4-ring Néel", 4, "periodic", 1.0, 0.2, 1.3, "neel", 2),
          ("6-ring Néel", 6, "periodic", 1.0, 0.2, 0.5, "neel", 3),
          ("5-ring Néel", 5, "periodic", 1.0, 0.2, 0.5, "neel", 2),
          ("8-chain Néel", 8, "open", 1.0, 0.3, 1.0, "neel", 2)]
T = 2.0


def measure(chain, order: int, steps: int, grouping: str) -> dict:
    label, n, boundary, J, h, delta, initial, nodes = chain
    out = run(job_text(kind="xxz", n=n, boundary=boundary, J=J, h=h, delta=delta, initial=initial, T=T, points=1,
                       steps=steps, order=order, nodes=nodes, grouping=grouping,
                       topology="ring" if nodes > 2 else "line", observables=["magnetization", "energy"]))
    obs, net = out.tables["observables"], out.tables["network"]
    m = obs["trotter"][obs["observable"] == "magnetization"]
    e = obs["trotter"][obs["observable"] == "energy"]
    return {"pairs": float(net["epr_pairs"][-1]), "infidelity": 1.0 - float(net["trotter_fidelity_to_exact"][-1]),
            "sz_drift": float(np.max(np.abs(m - m[0]))), "energy_error": float(abs(e[-1] - e[0]))}


def main() -> None:
    print(f"load {os.getloadavg()}; T = {T}, independent mode, one point at T, ideal links")
    print("| chain | QPUs | order | dt | grouping | pairs to T | 1 − F | max Sz drift | ΔE at T |")
    print("|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for chain in CHAINS:
        for order in (1, 2):
            for steps in (4, 8, 16):
                rows = {g: measure(chain, order, steps, g) for g in ("pauli", "bond")}
                for grouping, r in rows.items():
                    print(f"| {chain[0]} | {chain[7]} | {order} | {T / steps:g} | {grouping} | {r['pairs']:.0f} | "
                          f"{r['infidelity']:.3e} | {r['sz_drift']:.1e} | {r['energy_error']:.3e} |")
                ratios.append((chain[0], order, T / steps, rows["bond"]["pairs"] / rows["pauli"]["pairs"],
                               rows["bond"]["infidelity"] / rows["pauli"]["infidelity"]))
    print("\n| chain | order | dt | pairs bond / pauli | (1 − F) bond / pauli |\n|---|---|---|---|---|")
    for label, order, dt, pairs, infidelity in ratios:
        print(f"| {label} | {order} | {dt:g} | {pairs:.3f} | {infidelity:.3f} |")
    print(f"load {os.getloadavg()}")


if __name__ == "__main__":
    main()
