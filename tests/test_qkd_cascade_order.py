"""Cascade's two orders of bisection (``[qkd].cascade_order``): the sequential order of Brassard and Salvail
(EUROCRYPT 1993: the smallest odd block first, so a flip's cascade into earlier passes is resolved before the
next block is opened, each parity a round trip) against the parallel waves (every odd block of a wave at once).

The parallel order's results are those of dqsim before the option (2026-12-06: the review's figures,
``docs/review-qkd-networks-20261206.md``, come out the same), which ``tests/test_qkd_reconciliation.py`` holds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dqsim.backend import qkd_kernels
from dqsim.cli.main import main
from dqsim.io import open_run
from dqsim.errors import ConfigError, DqsimError
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import reconciliation
from dqsim.protocols.qkd.reconciliation import cascade_errors
from mpi_helper import ROOT

#: A hand case: 8 key bits, Bob's bits 0 and 1 wrong; pass 1 (identity) in blocks of 2, pass 2 in blocks of 4
#: read in the order PASS_2. Pass 1: 4 parities, all even (bits 0 and 1 share a block). Pass 2: 2 parities,
#: blocks {0, 2, 4, 6} and {1, 3, 5, 7} both odd.
#: Parallel: one wave bisects both (2 parities each: bits 0 and 1 found); the pass-1 block {0, 1} turns odd
#: and even again. 4 + 2 + 2 + 2 = 10 parities; rounds 1 + 1 + 2 (the wave's depth, log2 4) = 4.
#: Sequential: block {0, 2, 4, 6} first (2 parities: bit 0), which makes block {0, 1} of pass 1 odd; being the
#: smaller it comes next (1 parity: bit 1, which also makes {1, 3, 5, 7} even). 4 + 2 + 2 + 1 = 9 parities;
#: rounds 2 (the passes' parities) + 3 (one a bisection parity) = 5.
PASS_2 = np.array([0, 2, 4, 6, 1, 3, 5, 7])
HAND = {"parallel": (10, 4, 2), "sequential": (9, 5, 2)}


@pytest.mark.parametrize("order", reconciliation.CASCADE_ORDERS)
def test_a_hand_case_discloses_the_parities_counted_by_hand(order):
    wrong = np.zeros(8, dtype=np.uint8)
    wrong[[0, 1]] = 1
    perms = np.array([np.arange(8), PASS_2])
    got = reconciliation._cascade_reference(wrong, perms, [2, 4], sequential=order == "sequential")
    assert got == HAND[order] and not wrong.any()
    if qkd_kernels.has_cascade():  # the compiled passes on the wrong bits alone, placed where PASS_2 reads them
        errors = np.array([0, 1])
        places = np.array([[0, 1], [0, 4]], dtype=np.int32)  # bit 0 is read at place 0, bit 1 at place 4
        ranks = np.array([[0, 1], [0, 1]], dtype=np.int32)
        leak, rounds, flips, fixed = qkd_kernels.cascade_on_errors(8, errors, places, ranks, np.array([2, 4]),
                                                                   np.array([1, 2]), sequential=order == "sequential")
        assert (leak, rounds, flips) == HAND[order] and fixed.all()


def _errors(n: int, qber: float, seed: int) -> np.ndarray:
    return np.flatnonzero(np.random.default_rng(1000 + seed).random(n) < qber)


def test_sequential_corrects_every_error_and_discloses_less_than_parallel_on_the_same_shuffles():
    """At a QBER of 4 %, 16 keys of 3 000 bits: the same errors and shuffles (one seed) in both orders. The
    sequential order leaves no error and discloses no more on any key, and on average at least 5 parities a key
    fewer (11.9 here, at least 4 on each; the review measured 7.75 ± 0.74 on 2 000-bit keys, +0.016 in f). At
    1 % a key can go the other way (3 of 40 in bench/results/cascade_order-vm-20261206.md). Its rounds are one a pass plus one a
    bisection parity: its leakage less the passes' block parities."""
    n, qber, saved = 3000, 0.04, []
    for seed in range(16):
        errors = _errors(n, qber, seed)
        par, seq = (cascade_errors(n, errors, qber, np.random.default_rng(seed), order=order)
                    for order in reconciliation.CASCADE_ORDERS)
        assert seq.residual.size == 0 and seq.errors_corrected == errors.size
        assert seq.leakage_bits <= par.leakage_bits, seed
        saved.append(par.leakage_bits - seq.leakage_bits)
        sizes = [min(n, seq.first_block_bits << p) for p in range(reconciliation.CASCADE_PASSES)]
        block_parities = sum(-(-n // k) for k in sizes)
        assert seq.rounds == reconciliation.CASCADE_PASSES + seq.leakage_bits - block_parities
        assert par.rounds < seq.rounds / 10
    assert np.mean(saved) >= 5, saved


@pytest.mark.skipif(not qkd_kernels.has_cascade(), reason="needs numba")
@pytest.mark.parametrize("n, qber, tuned_to", [(2, 0.5, 0.3), (17, 0.2, 0.2), (1001, 0.03, 0.03),
                                               (5000, 0.08, 0.02), (5000, 0.01, 0.2), (6000, 0.02, 0.0)])
def test_compiled_sequential_cascade_equals_the_python_reference(n, qber, tuned_to):
    errors = _errors(n, qber, n)
    fast = cascade_errors(n, errors, tuned_to, np.random.default_rng(7), order="sequential", use_kernel=True)
    slow = cascade_errors(n, errors, tuned_to, np.random.default_rng(7), order="sequential", use_kernel=False)
    assert (fast.leakage_bits, fast.rounds, fast.errors_corrected, fast.residual.tolist()) == \
        (slow.leakage_bits, slow.rounds, slow.errors_corrected, slow.residual.tolist())


def test_an_unknown_order_is_refused():
    with pytest.raises(DqsimError, match="order must be one of parallel, sequential, got 'serial'"):
        cascade_errors(10, np.array([1]), 0.1, np.random.default_rng(0), order="serial")


@pytest.mark.parametrize("assignments, match", [
    (['qkd.error_correction="cascade"', 'qkd.cascade_order="serial"'],
     r"\[qkd\]\.cascade_order = \"serial\": must be one of \"parallel\", \"sequential\"$"),
    (['qkd.cascade_order="sequential"'],
     r"\[qkd\]\.cascade_order = \"sequential\": only used with error_correction = \"cascade\" "
     r"\(here error_correction = \"model\"\)$"),
])
def test_the_job_key_is_checked_in_one_line(assignments, match):
    job = load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")
    with pytest.raises(ConfigError, match=match) as info:
        apply_overrides(job, assignments)
    assert "\n" not in str(info.value)


def _run(tmp_path, name, order, *extra):
    out = tmp_path / f"{name}.h5"
    assert main(["run", str(ROOT / "jobs" / "bb84_decoy_50km.toml"), "-o", str(out), "--quiet",
                 "--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=500000", "--set", "qkd.block_pulses=1000000",
                 "--set", "qkd.link.distance_km=20",
                 "--set", "qkd.link.misalignment=0.04", "--set", 'qkd.error_correction="cascade"',
                 "--set", f'qkd.cascade_order="{order}"', *extra]) == 0
    return out


def test_a_sequential_run_keys_more_bits_over_more_round_trips_and_resumes_inside_cascade(tmp_path):
    """The job in both orders (one block of 1e6 pulses at 20 km, QBER about 4 %): the sequential block discloses
    less (a longer key), its keys are equal, and its rounds take that many more round trips of simulated time
    (2 fibre delays each at least). A checkpoint written during its Cascade rounds resumes to the same tables."""
    par = open_run(_run(tmp_path, "parallel", "parallel"))
    ck = tmp_path / "ck"
    seq_path = _run(tmp_path, "sequential", "sequential", "--set", "checkpoint.every_sim_s=0.3",
                    "--set", f'checkpoint.directory="{ck}"', "--set", "checkpoint.keep=100")
    seq = open_run(seq_path)
    (p,), (s,) = par.table("blocks"), seq.table("blocks")
    assert s["ec_key_bits"] == p["ec_key_bits"] and s["final_keys_equal"] and s["ec_verified"]
    assert s["leakage_bits"] < p["leakage_bits"] and s["secret_key_bits"] > p["secret_key_bits"]
    assert s["ec_rounds"] > 50 * p["ec_rounds"]
    delay_ps = 20 * 1.468 / 299_792_458e-15  # 20 km of fibre, ps (group index 1.468)
    longer_ps = seq.table("links")["simulated_time_ps"][0] - par.table("links")["simulated_time_ps"][0]
    assert longer_ps >= 2 * delay_ps * (s["ec_rounds"] - p["ec_rounds"]) * (1 - 1e-6)

    from run_files import checkpoints, same_tables
    from test_checkpoint_snapshot import resume, saved_process
    inside = [path for path in checkpoints(ck) if saved_process(path, node=1).phase == "cascade"]
    assert inside, "no checkpoint was written during Cascade's rounds"
    resumed = resume(inside[len(inside) // 2], tmp_path / "resumed.h5")
    same_tables(seq, resumed, ["blocks", "links", "end_to_end"])
    assert resumed.attrs["engine_messages"] == seq.attrs["engine_messages"]
    assert math.isfinite(float(s["ec_f_measured"]))
