"""Cascade's shuffles, the QBER sample and the privacy-amplification product, NumPy / FFT against the compiled paths.

A benchmark, not a test: it measures and records, it asserts nothing but
that both paths give the same numbers (which the tests check too).

Per key length n (one process, one thread, CPU time, the best of
``--repeats``, the two paths alternated):

* ``permutations``: the three ``rng.permutation(n)`` of a four-pass Cascade
  from the scenario's Philox generator (:class:`dqsim.rng.Stream`), by NumPy
  and by :func:`dqsim.backend.qkd_kernels.permutations`;
* ``places``: where those three permutations put the wrong bits of a key at
  a 1.5 % QBER (what Cascade's compiled passes need), by NumPy (the
  permutations inverted) and by :func:`dqsim.backend.qkd_kernels.shuffled_places`
  (the wrong bits followed through the compiled shuffles);
* ``sample``: the QBER sample of 10 % of the key's bits, by NumPy
  (``rng.random(n) < 0.1`` and masks) and by
  :func:`dqsim.backend.qkd_kernels.split_sample`, where the tree has them;
* ``pa``: the Toeplitz product of the key to ℓ = 0.1 n, 0.5 n and 0.83 n bits
  (0.83: a 1 % QBER), by real FFT (``reconciliation._toeplitz_fft``) and as
  a binary-polynomial product (``reconciliation._toeplitz_carryless``).

    PYTHONPATH=$PWD python bench/qkd_postprocess_stages.py --output results.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def best(function, repeats: int) -> tuple[float, object]:
    """The least CPU time of ``repeats`` calls and the last result."""
    times = []
    for _ in range(repeats):
        start = time.process_time()
        result = function()
        times.append(time.process_time() - start)
    return min(times), result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000, 4_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output")
    args = parser.parse_args(argv)

    from dqsim.backend import qkd_kernels
    from dqsim.protocols.qkd import reconciliation
    from dqsim.rng import Stream

    stream = Stream(1, node=0, purpose="qkd_postprocess")
    rng = np.random.default_rng(2)
    small = rng.integers(0, 2, 5000, dtype=np.uint8)  # warm-up: numba's cache
    qkd_kernels.permutations(stream.generator(0), np.empty((3, 100), np.int32))
    reconciliation._toeplitz_carryless(small, np.concatenate([small, small])[:9000], 4001)
    if hasattr(qkd_kernels, "shuffled_places"):
        qkd_kernels.shuffled_places(stream.generator(0), 100, np.array([1, 5]), np.empty((3, 2), np.int64),
                                    np.empty((3, 2), np.int64))
        qkd_kernels.split_sample(stream.generator(0), small, small, 0.1)
    rows = []
    for n in args.sizes:
        row = {"n": n, "utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
               "load_1min": os.getloadavg()[0]}
        def numpy_permutations():
            generator = stream.generator(1)
            return [generator.permutation(n) for _ in range(3)]

        numpy_s, theirs = best(numpy_permutations, args.repeats)
        kernel_s, ours = best(lambda: qkd_kernels.permutations(stream.generator(1), np.empty((3, n), np.int32)),
                              args.repeats)
        row.update(permutations_numpy_s=numpy_s, permutations_kernel_s=kernel_s,
                   permutations_same=all(np.array_equal(a, b) for a, b in zip(theirs, ours)))
        x = rng.integers(0, 2, n, dtype=np.uint8)
        y = x ^ (rng.random(n) < 0.015).astype(np.uint8)
        if hasattr(qkd_kernels, "shuffled_places"):
            errors = np.flatnonzero(x != y)

            def numpy_places():
                generator, inverse, places = stream.generator(1), np.empty(n, np.int64), []
                for _ in range(3):
                    inverse[generator.permutation(n)] = np.arange(n)
                    places.append(inverse[errors])
                return places

            def kernel_places():
                places, order = np.empty((3, errors.size), np.int64), np.empty((3, errors.size), np.int64)
                qkd_kernels.shuffled_places(stream.generator(1), n, errors, places, order)
                return places

            numpy_s, theirs = best(numpy_places, args.repeats)
            kernel_s, ours = best(kernel_places, args.repeats)
            row.update(places_numpy_s=numpy_s, places_kernel_s=kernel_s,
                       places_same=all(np.array_equal(a, b) for a, b in zip(theirs, ours)))

            def numpy_sample():
                mask = stream.generator(1).random(n) < 0.1
                return int(np.count_nonzero(mask)), int(np.count_nonzero(x[mask] != y[mask])), x[~mask], y[~mask]

            numpy_s, theirs = best(numpy_sample, args.repeats)
            kernel_s, ours = best(lambda: qkd_kernels.split_sample(stream.generator(1), x, y, 0.1), args.repeats)
            row.update(sample_numpy_s=numpy_s, sample_kernel_s=kernel_s,
                       sample_same=theirs[:2] == ours[:2] and all(np.array_equal(a, b)
                                                                  for a, b in zip(theirs[2:], ours[2:])))
        for fraction in (0.1, 0.5, 0.83):
            m = int(n * fraction)
            seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
            fft_s, by_fft = best(lambda: reconciliation._toeplitz_fft(x, seed, m), args.repeats)
            clmul_s, by_clmul = best(lambda: reconciliation._toeplitz_carryless(x, seed, m), args.repeats)
            row.update({f"pa_{fraction}_fft_s": fft_s, f"pa_{fraction}_carryless_s": clmul_s,
                        f"pa_{fraction}_same": bool(np.array_equal(by_fft, by_clmul))})
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps({"command": " ".join([sys.executable, *sys.argv]),
                                                 "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
