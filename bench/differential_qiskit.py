"""Differential check of dqsim's circuit engine against qiskit: random circuits, dqsim on 1, 2 and 4 ranks.

Not a test (too long for CI) and not a benchmark: a campaign a reviewer can rerun. Two kinds:

* ``states``: ``qiskit.circuit.random.random_circuit`` (4-9 qubits, depth 5-40, up to 3-qubit gates),
  optionally transpiled to one of several gate sets, written as OpenQASM 2 and run by ``dqsim run`` with
  ``save_state = true`` on 1, 2 and 4 ranks, fusion on and off, complex128 and complex64 (complex64 on 1
  and 2 ranks). The saved state must equal ``qiskit.quantum_info.Statevector`` of the circuit:
  ``|1 - |<ref|psi>|^2| < 1e-10`` (complex128) or ``< 1e-4`` (complex64), and the norm too.
* ``dynamic``: circuits with mid-circuit measurements, resets and ``if``/``else`` on measured bits
  (OpenQASM 3 from ``qiskit.qasm3.dumps``), 3,000 shots through ``dqsim run`` on 1 and 2 ranks, against
  qiskit-aer's 400,000 shots of the same circuit (``--aer-python``: a Python with qiskit-aer, run on a
  QPY file). Pearson's chi-square over the outcomes whose expected count is >= 5 (the rest pooled);
  p < 1e-4 is reported as a mismatch.

Prints one line per circuit and the mismatches at the end; exit status 1 if there is one.

Example (from the repository root)::

    .venv/bin/python bench/differential_qiskit.py states --seeds 0 40
    .venv/bin/python bench/differential_qiskit.py dynamic --seeds 0 40 --aer-python /path/to/aer-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np


def _dqsim(job: Path, ranks: int, env: dict) -> subprocess.CompletedProcess:
    python = sys.executable
    launcher = [str(Path(python).with_name("mpiexec")), "-n", str(ranks)] if ranks > 1 else []
    return subprocess.run(launcher + [python, "-m", "mpi4py", "-m", "dqsim", "run", str(job)], env=env,
                          capture_output=True, text=True, timeout=900)


def _run_job(folder: Path, name: str, text: str, ranks: int, env: dict, dataset: str, bad: list):
    """Write job ``name`` (``text`` plus its output line), run it on ``ranks`` ranks and return the output's
    ``dataset``; None (and a line in ``bad``) where the run failed."""
    out, job = folder / f"{name}.h5", folder / f"{name}.toml"
    job.write_text(text.replace("[run]\n", f'[run]\nname = "{name}"\noutput = "{out}"\n', 1))
    proc = _dqsim(job, ranks, env)
    if proc.returncode != 0:
        bad.append((name, "exit status", proc.returncode, (proc.stderr or proc.stdout)[-300:]))
        return None
    with h5py.File(out) as f:
        return f[dataset][...]


def _states(seed: int, folder: Path, env: dict) -> list:
    from qiskit import qasm2, transpile
    from qiskit.circuit.random import random_circuit
    from qiskit.quantum_info import Statevector

    rng = random.Random(seed)
    n, depth = rng.randint(4, 9), rng.randint(5, 40)
    qc = random_circuit(n, depth, max_operands=rng.choice([2, 3]), seed=seed)
    basis = rng.choice([None, ["u3", "cx", "rz", "h", "cp", "swap"], ["u", "cx"],
                        ["rx", "ry", "rz", "cz", "ccx", "cswap", "rzz"]])
    if basis:
        qc = transpile(qc, basis_gates=basis, optimization_level=0, seed_transpiler=seed)
    ref = Statevector(qc).data
    (folder / f"c{seed}.qasm").write_text(qasm2.dumps(qc))
    bad = []
    for ranks in (1, 2, 4):
        for fusion in ("true", "false"):
            for precision in ("complex128", "complex64"):
                if ranks == 4 and precision == "complex64":
                    continue
                name = f"s{seed}_r{ranks}_{fusion}_{precision}"
                state = _run_job(folder, name, f'[run]\nseed = 3\nprecision = "{precision}"\nbackend = "numpy"\n'
                                 f'[circuit]\nqasm = "c{seed}.qasm"\n[simulation]\nshots = 10\nsave_state = true\n'
                                 f"fusion = {fusion}\n", ranks, env, "state", bad)
                if state is None:
                    continue
                fidelity = abs(np.vdot(ref, state)) ** 2
                tol = 1e-10 if precision == "complex128" else 1e-4
                if abs(1 - fidelity) >= tol or abs(np.linalg.norm(state) - 1) >= tol:
                    bad.append((name, "fidelity", fidelity))
    print(f"states seed {seed}: {n} qubits, depth {depth}, gates {basis or 'qiskit random'}: "
          f"{len(bad)} mismatch(es)", flush=True)
    return bad


def _dynamic(seed: int, folder: Path, env: dict, aer_python: str, shots: int = 3000) -> list:
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, qasm3, qpy
    from scipy.stats import chi2

    rng = random.Random(seed)
    n, nc = rng.randint(3, 6), rng.randint(2, 6)
    c = ClassicalRegister(nc, "c")
    qc = QuantumCircuit(QuantumRegister(n, "q"), c)
    measured = []
    for _ in range(rng.randint(6, 25)):
        r, a = rng.random(), rng.randrange(n)
        if r < 0.35:
            gate = rng.choice(["h", "x", "s", "t", "sx", "ry", "rx"])
            getattr(qc, gate)(*((rng.uniform(0, 3.1), a) if gate in ("ry", "rx") else (a,)))
        elif r < 0.6:
            getattr(qc, rng.choice(["cx", "cz", "swap"]))(a, rng.choice([x for x in range(n) if x != a]))
        elif r < 0.75:
            k = rng.randrange(nc)
            qc.measure(a, k)
            measured.append(k)
        elif r < 0.82:
            qc.reset(a)
        elif measured:
            with qc.if_test((c[rng.choice(measured)], rng.randint(0, 1))) as orelse:
                getattr(qc, rng.choice(["x", "h", "z"]))(a)
            if rng.random() < 0.4:
                with orelse:
                    qc.x(rng.randrange(n))
    for k in range(min(n, nc)):
        qc.measure(k, k)
    (folder / f"d{seed}.qasm").write_text(qasm3.dumps(qc))
    with open(folder / f"d{seed}.qpy", "wb") as f:
        qpy.dump(qc, f)
    script = ("import sys, json\nfrom qiskit import qpy\nfrom qiskit_aer import AerSimulator\n"
              "qc = qpy.load(open(sys.argv[1], 'rb'))[0]\n"
              "print(json.dumps(AerSimulator(method='statevector').run(qc, shots=400000, "
              "seed_simulator=int(sys.argv[2])).result().get_counts()))\n")
    ref = json.loads(subprocess.run([aer_python, "-c", script, str(folder / f"d{seed}.qpy"), str(seed)],
                                    capture_output=True, text=True, check=True).stdout)
    total = sum(ref.values())
    expected = {key.replace(" ", ""): count / total for key, count in ref.items()}
    bad = []
    for ranks in (1, 2):
        name = f"d{seed}_r{ranks}"
        table = _run_job(folder, name, f'[run]\nseed = {seed + 5}\nbackend = "numpy"\n[circuit]\n'
                         f'qasm = "d{seed}.qasm"\n[simulation]\nshots = {shots}\n', ranks, env, "counts", bad)
        if table is None:
            continue
        key_field, count_field = table.dtype.names[:2]
        got = {}
        for row in table:
            key = row[key_field]
            got[key.decode() if isinstance(key, bytes) else str(key)] = int(row[count_field])
        stat, dof, pooled_e, pooled_o = 0.0, -1, 0.0, 0
        for key in set(expected) | set(got):
            e, o = expected.get(key, 0.0) * shots, got.get(key, 0)
            if e >= 5:
                stat, dof = stat + (o - e) ** 2 / e, dof + 1
            else:
                pooled_e, pooled_o = pooled_e + e, pooled_o + o
        if pooled_e > 0 or pooled_o > 0:
            stat, dof = stat + (pooled_o - pooled_e) ** 2 / max(pooled_e, 0.5), dof + 1
        p_value = chi2.sf(stat, max(dof, 1))
        if p_value < 1e-4:
            bad.append((name, "chi-square", stat, dof, p_value))
    print(f"dynamic seed {seed}: {n} qubits, {nc} bits: {len(bad)} mismatch(es)", flush=True)
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("states", "dynamic"))
    parser.add_argument("--seeds", nargs=2, type=int, default=(0, 10), metavar=("FIRST", "COUNT"))
    parser.add_argument("--aer-python", help="a Python with qiskit-aer (dynamic)")
    args = parser.parse_args()
    if args.kind == "dynamic" and not args.aer_python:
        parser.error("dynamic needs --aer-python (a Python with qiskit-aer installed)")
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds[0], args.seeds[0] + args.seeds[1]):
            folder = Path(tmp) / str(seed)
            folder.mkdir()
            bad += (_states(seed, folder, env) if args.kind == "states"
                    else _dynamic(seed, folder, env, args.aer_python))
    print("mismatches:", json.dumps(bad, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
