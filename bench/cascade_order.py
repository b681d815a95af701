"""Cascade's two orders of bisection compared: leakage (f_EC), round trips and CPU time.

``[qkd].cascade_order = "parallel"`` bisects every odd block of a wave at once; ``"sequential"`` is
Brassard and Salvail's smallest-odd-block-first order (EUROCRYPT 1993), each parity a round trip. Both
run here on the same wrong bits and the same shuffles (the same generator seed), at QBERs 1, 2, 4 and 8 %:

* ``keys``: ``reconciliation.cascade_errors`` on random error patterns of n = 53 000 bits (a block of
  ``jobs/bb84_decoy_50km.toml`` with 1e6 pulses at 20 km, as the review of 2026-12-06 ran it) and
  n = 1e6 bits, Cascade tuned to the true QBER; CPU time (``time.process_time``) of each order, measured
  one after the other in the same process, best of the repetitions;
* ``reference``: both orders against the review's independent Cascade (``bench/review_qkd_networks.py``,
  ``cascade_reference``, smallest-first and parallel waves) and the compiled kernel against the Python
  reference, on 40 keys of 2 000-3 443 bits a QBER (E = 1, 4, 8 %);
* ``job``: the job itself (``error_correction = "cascade"``, 2e6 pulses in 2 blocks, 20 km, misalignment
  0.01 and 0.04) in each order: ``ec_f_measured``, ``ec_rounds``, the link's simulated time and the run's
  CPU time.

Usage: ``PYTHONPATH=$PWD .venv/bin/python bench/cascade_order.py [keys] [reference] [job]`` (default all). The load
average is printed beside every timing (the machine is shared).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from dqsim.protocols.qkd.reconciliation import CASCADE_ORDERS, cascade_errors
from dqsim.protocols.qkd.theory import binary_entropy

QBERS = (0.01, 0.02, 0.04, 0.08)


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def check_keys(num_keys: int = 8) -> None:
    print(f"keys: {num_keys} random keys a row, Cascade tuned to the true QBER; mean (sd of one key); {load()}",
          flush=True)
    cascade_errors(2000, np.array([5, 70]), 0.01, np.random.default_rng(0), order="sequential")  # compiled
    for n in (53_000, 1_000_000):
        for qber in QBERS:
            rows = {order: ([], [], []) for order in CASCADE_ORDERS}
            less = 0
            for seed in range(num_keys):
                errors = np.flatnonzero(np.random.default_rng(1000 + seed).random(n) < qber)
                h = binary_entropy(errors.size / n)
                leaks = {}
                for order in CASCADE_ORDERS:
                    start = time.process_time()
                    done = cascade_errors(n, errors, qber, np.random.default_rng(seed), order=order)
                    cpu = time.process_time() - start
                    assert done.residual.size == 0 or n > 100_000, (n, qber, seed, order)
                    f, rounds, cpus = rows[order]
                    f.append(done.leakage_bits / (n * h))
                    rounds.append(done.rounds)
                    cpus.append(cpu)
                    leaks[order] = done.leakage_bits
                less += leaks["sequential"] <= leaks["parallel"]
            (fp, rp, cp), (fs, rs, cs) = rows["parallel"], rows["sequential"]
            df = np.array(fp) - np.array(fs)
            print(f"  n {n} E {qber}: f parallel {np.mean(fp):.4f} ({np.std(fp, ddof=1):.4f}), sequential "
                  f"{np.mean(fs):.4f} ({np.std(fs, ddof=1):.4f}), difference {df.mean():+.4f} ± "
                  f"{df.std(ddof=1) / math.sqrt(num_keys):.4f} (sequential <= parallel in {less} of {num_keys}); "
                  f"rounds {np.mean(rp):.0f} / {np.mean(rs):.0f} (x{np.mean(rs) / np.mean(rp):.0f}); CPU best "
                  f"{min(cp) * 1e3:.2f} / {min(cs) * 1e3:.2f} ms (x{min(cs) / min(cp):.2f}); {load()}", flush=True)


def check_reference() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from review_qkd_networks import cascade_reference

    print("reference: parities equal to the review's Cascade (smallest first / parallel waves), kernel equal to "
          "the Python reference, keys where sequential discloses no more than parallel", flush=True)
    for qber in (0.01, 0.04, 0.08):
        rng = np.random.default_rng(11)
        same = {order: 0 for order in CASCADE_ORDERS}
        kernel_same = less = 0
        for i in range(40):
            n = 2000 + 37 * i
            errors = np.sort(rng.choice(n, size=rng.binomial(n, qber), replace=False))
            done = {}
            for order in CASCADE_ORDERS:
                fast = cascade_errors(n, errors, qber, np.random.default_rng(i), order=order)
                slow = cascade_errors(n, errors, qber, np.random.default_rng(i), order=order, use_kernel=False)
                kernel_same += (fast.leakage_bits, fast.rounds, fast.errors_corrected, fast.residual.tolist()) == \
                    (slow.leakage_bits, slow.rounds, slow.errors_corrected, slow.residual.tolist())
                reference = cascade_reference(n, errors, qber, np.random.default_rng(i), waves=order == "parallel")
                same[order] += reference[0] == fast.leakage_bits
                done[order] = fast.leakage_bits
            less += done["sequential"] <= done["parallel"]
        print(f"  E {qber}: equal to the reference, parallel {same['parallel']} of 40, sequential "
              f"{same['sequential']} of 40; kernel equal to Python {kernel_same} of 80; sequential <= parallel in "
              f"{less} of 40", flush=True)


def run_job(misalignment: float, order: str, out: str) -> tuple[float, dict]:
    args = [sys.executable, "-m", "dqsim", "run", "jobs/bb84_decoy_50km.toml", "-o", out, "--quiet",
            "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=500000", "--set", "qkd.block_pulses=1000000",
            "--set", 'qkd.error_correction="cascade"', "--set", f'qkd.cascade_order="{order}"',
            "--set", "qkd.link.distance_km=20", "--set", f"qkd.link.misalignment={misalignment}"]
    start = os.times()
    subprocess.run(args, check=True)
    end = os.times()
    from dqsim.io.reader import open_run
    run = open_run(out)
    blocks = run.table("blocks")
    links = run.table("links")
    return end.children_user + end.children_system - start.children_user - start.children_system, dict(
        f=[round(float(x), 4) for x in blocks["ec_f_measured"]], rounds=[int(x) for x in blocks["ec_rounds"]],
        leak=[int(x) for x in blocks["leakage_bits"]], key=[int(x) for x in blocks["secret_key_bits"]],
        equal=[bool(x) for x in blocks["final_keys_equal"]],
        simulated_s=[float(x) / 1e12 for x in links["simulated_time_ps"]])


def check_job() -> None:
    print(f"job: bb84_decoy_50km, cascade, 2e6 pulses in 2 blocks, 20 km; {load()}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        for misalignment in (0.01, 0.04):
            for order in CASCADE_ORDERS:
                cpu, r = run_job(misalignment, order, os.path.join(folder, f"{order}.h5"))
                print(f"  misalignment {misalignment} {order}: f {r['f']}, rounds {r['rounds']}, leak {r['leak']}, "
                      f"secret key bits {r['key']}, keys equal {r['equal']}, simulated time "
                      f"{[round(s, 3) for s in r['simulated_s']]} s, run CPU {cpu:.2f} s; {load()}", flush=True)


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["keys", "reference", "job"]
    for name in chosen:
        {"keys": check_keys, "reference": check_reference, "job": check_job}[name]()
