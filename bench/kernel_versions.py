"""Two versions of the compiled CPU kernels, timed in one process against copies of the shard.

A benchmark, not a test. The other version is a copy of ``dqsim/backend/fast.py``
from another commit, e.g.::

    git show 972ca87:dqsim/backend/fast.py > /tmp/fast_old.py
    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 .venv/bin/python bench/kernel_versions.py /tmp/fast_old.py --local-qubits 25

Every repeat times ``np.copyto`` of the shard and then the kernel, for each
version in turn; ratio = (least bytes of the gate / kernel time) / (2 × shard
bytes / copy time), by wall and by CPU time (the medians over repeats). The
cases are those of ``bench/kernel_bench.py``: dense blocks of k = 1..5 bits at
the low, middle and top bits, ``cx`` on the two lowest and the two highest bits.
``--cases places`` times instead the places of issue 14's kernel table: 1-qubit
gates on bits 0-2, 2-qubit gates on pairs of low and mixed bits, controlled
1-qubit gates with a control on bit 0 or 1, and blocks of k = 3..5 bits on the
lowest, middle and mixed (low and high) bits, and k = 4, 5 on more places.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dqsim.backend import fast


def load_kernels(path: str):
    name = Path(path).stem  # registered under its own name: numba's cache looks the module up by name
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.numba_kernels()


def kernel_call(kernels, psi, bits, matrix, cmask):
    """The call the engine makes: permutations through ``permute`` where the version has it."""
    source = fast.permutation_of(matrix)
    if source is not None and hasattr(kernels, "permute"):
        return lambda: kernels.permute(psi, bits, source, cmask)
    if len(bits) == 1:
        return lambda: kernels.dense1(psi, bits[0], matrix, cmask)
    if len(bits) == 2:
        return lambda: kernels.dense2(psi, bits[0], bits[1], matrix, cmask)
    return lambda: kernels.dense(psi, bits, matrix, cmask)


def bench_cases(n: int, rng) -> list:
    """``(name, bits, matrix, cmask, factor)`` of ``bench/kernel_bench.py``'s cases; ``factor``: the
    share of the shard's read + write the gate needs, times 2."""
    cases = []
    for k in range(1, 6):
        u = random_unitary(k, rng)
        for label, low in (("low", 0), ("mid", n // 2 - k // 2), ("top", n - k)):
            cases.append((f"dense k={k} {label}", list(range(low, low + k)), u, 0, 2.0))
    x = np.array([[0, 1], [1, 0]], dtype=complex)
    cases.append(("cx (1,0)", [0], x, 1 << 1, 1.0))
    cases.append((f"cx ({n - 1},{n - 2})", [n - 2], x, 1 << (n - 1), 1.0))
    return cases


#: Target bits of the ``places`` blocks of k = 3..5 on mixed bits (some low, some high).
MIXED_BLOCKS = {3: [1, 9, 17], 4: [0, 3, 11, 19], 5: [0, 2, 6, 13, 20]}
#: More places of k = 3 blocks (issue 14: any placement of the targets): low and high bits
#: mixed, high bits right above bit 2.
MIXED3_BLOCKS = ((0, 5, 9), (1, 2, 14), (2, 3, 4), (3, 4, 5), (0, 3, 4))
#: More places of k = 4, 5 blocks (the planar kernels): every target >= 3, right above bit 2 and
#: spread over the shard; two low targets (k = 4) and one (k = 5).
MORE_BLOCKS = {4: ((3, 4, 5, 6), (3, 8, 15, 22), (1, 2, 9, 17)), 5: ((3, 7, 12, 18, 24), (1, 6, 10, 15, 21))}


def place_cases(n: int, rng) -> list:
    """The cases of ``--cases places`` (issue 14's table), as :func:`bench_cases`."""
    cases = []
    u1 = random_unitary(1, rng)
    for bit in (0, 1, 2):
        cases.append((f"1q ({bit})", [bit], u1, 0, 2.0))
    u2 = random_unitary(2, rng)
    for bits in ((0, 1), (0, 2), (1, 2), (2, 3), (2, 12), (0, 12)):
        cases.append((f"2q {bits}", list(bits), u2, 0, 2.0))
    for target, control in ((12, 0), (12, 1), (0, 1)):
        cases.append((f"c1q t{target} c{control}", [target], u1, 1 << control, 1.0))
    for k in (3, 4, 5):
        u = random_unitary(k, rng)
        cases.append((f"dense k={k} low", list(range(k)), u, 0, 2.0))
        cases.append((f"dense k={k} mid", list(range(n // 2 - k // 2, n // 2 - k // 2 + k)), u, 0, 2.0))
        cases.append((f"dense k={k} mixed", MIXED_BLOCKS[k], u, 0, 2.0))
        cases.append((f"dense k={k} top", list(range(n - k, n)), u, 0, 2.0))
        for bits in MIXED3_BLOCKS if k == 3 else MORE_BLOCKS[k]:
            cases.append((f"dense k={k} {bits}", list(bits), u, 0, 2.0))
    return cases


def random_unitary(k: int, rng) -> np.ndarray:
    z = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
    return np.linalg.qr(z)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other_fast", help="path of another version of dqsim/backend/fast.py")
    parser.add_argument("--local-qubits", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=None, help="JSON file for the rows")
    parser.add_argument("--cases", choices=("bench", "places"), default="bench")
    parser.add_argument("--precisions", nargs="+", default=["complex128", "complex64"])
    parser.add_argument("--only", nargs="+", default=None,
                        help="run only the cases whose name contains one of these strings")
    args = parser.parse_args(argv)
    versions = {"other": load_kernels(args.other_fast), "this": fast.numba_kernels()}
    n = args.local_qubits
    lowest = 21 if args.cases == "places" else 6
    if n < lowest:
        # The kernels run without bounds checks: a bit beyond the shard would write past it.
        parser.error(f"--local-qubits {n} is too small for --cases {args.cases}: its bits reach {lowest - 1}; use >= {lowest}")
    rng = np.random.default_rng(5)
    rows = []
    for precision in args.precisions:
        psi = np.full(1 << n, 2.0 ** (-n / 2), dtype=precision)
        dst = np.empty_like(psi)
        cases = (bench_cases if args.cases == "bench" else place_cases)(n, rng)
        for name, bits, matrix, cmask, factor in cases:
            if args.only is not None and not any(part in name for part in args.only):
                continue
            calls = {key: kernel_call(kern, psi, bits, matrix, cmask) for key, kern in versions.items()}
            for call in calls.values():
                call()  # compile
            wall = {key: [] for key in calls}
            cpu = {key: [] for key in calls}
            for _ in range(args.repeats):
                for key, call in calls.items():
                    w0, c0 = time.perf_counter(), time.process_time()
                    np.copyto(dst, psi)
                    copy_w, copy_c = time.perf_counter() - w0, time.process_time() - c0
                    w0, c0 = time.perf_counter(), time.process_time()
                    call()
                    kern_w, kern_c = time.perf_counter() - w0, time.process_time() - c0
                    wall[key].append(factor / 2 * copy_w / kern_w)
                    cpu[key].append(factor / 2 * copy_c / max(kern_c, 1e-9))
            row = {"case": name, "precision": precision}
            for key in calls:
                row[f"{key}_wall"] = round(statistics.median(wall[key]), 2)
                row[f"{key}_cpu"] = round(statistics.median(cpu[key]), 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"local_qubits": n, "repeats": args.repeats, "other_fast": args.other_fast, "cases": args.cases,
                       "loadavg_1min": os.getloadavg()[0], "rows": rows}, fh,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
