"""``dqsim warmup``: numba's kernels compiled into its cache from one process, then loaded by a run.

The warm-up runs in a fresh ``NUMBA_CACHE_DIR`` (a subprocess: numba reads it at import) on the QKD kernels
(a few seconds to compile), then a QKD run in another process must load every kernel it calls from that cache
(numba's ``stats.cache_hits``) and compile none (``stats.cache_misses``); the same process then loads the
carry-less product's kernel, which the run does not call, from that cache too, and runs the warm-up again, which
must compile nothing (it loads the group's kernels the run did not call: one interpreter with dqsim's imports
less than a third ``dqsim warmup`` process, ~2 s of CPU).
"""

import subprocess
import sys

from dqsim.cli.warmup import chosen_groups
from dqsim.errors import DqsimError
from dqsim.scenarios.registry import SCENARIOS
from dqsim.scenarios.warmup import KERNEL_GROUPS
from mpi_helper import ROOT, child_env

import pytest

#: The QKD kernels a BB84 run with decoys and Cascade calls (dqsim/backend/qkd_kernels.py).
QKD_KERNELS = {"_numba_chain", "_numba_clicks", "_numba_table", "_numba_sfc64_row_starts", "_numba_sparse_cascade",
               "_numba_philox_places", "_numba_philox_sample_packed", "_numba_philox_skip", "_numba_key_bits"}

#: Runs a small BB84 job with Cascade in this process and prints, per kernel of dqsim's, the versions loaded
#: from numba's cache and compiled; then (where the CPU has one) multiplies (1 + z)(1 + z) with the carry-less
#: product, which the run does not call (privacy amplification calls it only for a block whose keys still differ
#: after Cascade: none here), and prints the product and that kernel's versions loaded and compiled; then runs
#: ``dqsim warmup --kernels qkd`` (its lines, then AGAIN and its exit status).
RUN_AND_COUNT = """
import sys
import numpy as np
from dqsim.cli.main import main
from dqsim.backend import qkd_kernels
from dqsim.backend.warmup import dispatchers
code = main(["run", "jobs/bb84_decoy_50km.toml", "-o", sys.argv[1], "--quiet", "--set", "qkd.pulses=200000",
             "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=200000",
             "--set", 'qkd.error_correction="cascade"'])
for name, d in dispatchers().items():
    hits, misses = sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values())
    if hits or misses:
        print("KERNEL", name.split(".")[-1], hits, misses)
print("STATUS", code)
if qkd_kernels.has_carryless_product():
    print("PRODUCT", *qkd_kernels.carryless_product(np.array([3], np.uint64), np.array([3], np.uint64)).tolist())
    d = qkd_kernels._clmul_product
    print("CARRYLESS", sum(d.stats.cache_hits.values()), sum(d.stats.cache_misses.values()))
print("AGAIN", main(["warmup", "--kernels", "qkd"]))  # nothing left to compile
"""


def _dqsim(env, *args, timeout_s=300):
    return subprocess.run([sys.executable, "-m", "dqsim", *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout_s)


def test_a_run_after_the_warm_up_loads_its_kernels_from_the_cache(tmp_path):
    env = {**child_env(), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    warm = _dqsim(env, "warmup", "--kernels", "qkd")
    assert warm.returncode == 0, warm.stderr
    lines = warm.stdout.strip().splitlines()
    assert lines[0].startswith("dqsim warmup: [1/1] QKD detection and Cascade kernels ... "), lines
    compiled = int(lines[0].split("(")[-1].split()[0])
    assert compiled >= len(QKD_KERNELS) and ", 0 loaded from the cache)" in lines[0], lines
    assert lines[-1].endswith(f"numba's cache: {tmp_path / 'numba'}/" + lines[-1].split("/")[-1]), lines
    assert "(NUMBA_CACHE_DIR)" in lines[-1] and any((tmp_path / "numba").rglob("*.nbi")), lines

    run = subprocess.run([sys.executable, "-c", RUN_AND_COUNT, str(tmp_path / "out.h5")], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert "STATUS 0" in run.stdout, run.stdout + run.stderr
    counts = {words[1]: (int(words[2]), int(words[3]))
              for words in (line.split() for line in run.stdout.splitlines()) if words[0] == "KERNEL"}
    from dqsim.backend.qkd_kernels import has_carryless_product

    # loaded: only the kernels called from Python count (privacy amplification's product is called only for a
    # block whose keys still differ after Cascade: none here)
    assert set(counts) == QKD_KERNELS, counts
    assert all(hits >= 1 and misses == 0 for hits, misses in counts.values()), counts
    product = [line.split()[1:] for line in run.stdout.splitlines() if line.split()[:1] in (["PRODUCT"], ["CARRYLESS"])]
    if has_carryless_product():  # the warm-up compiled it all the same: this process loads it after the run
        assert product == [["5", "0"], ["1", "0"]], run.stdout + run.stderr
    else:
        assert product == [], run.stdout

    again = run.stdout[run.stdout.index("\ndqsim warmup: [1/1]"):]
    assert "AGAIN 0" in again and "(0 compiled, " in again, run.stdout + run.stderr


def test_an_unwritable_numba_cache_dir_is_one_line_that_says_what_to_do(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    env = {**child_env(), "NUMBA_CACHE_DIR": str(blocker / "cache")}  # under a file: not even root can make it
    proc = _dqsim(env, "warmup", "--kernels", "qkd", timeout_s=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and proc.stdout == "", proc.stdout + proc.stderr
    assert err[0].startswith(f"dqsim: error: NUMBA_CACHE_DIR={blocker / 'cache'} cannot be written (Not a "
                             "directory): numba would cache the kernels in "), err
    assert "point NUMBA_CACHE_DIR at a folder you can write that every node sees" in err[0], err


def test_the_kernel_groups_of_a_job_follow_its_scenario_precision_and_backend():
    quickstart, qkd, repeater = (str(ROOT / "jobs" / name) for name in
                                 ("quickstart.toml", "bb84_decoy_50km.toml", "repeater_chain.toml"))
    numpy = ['run.backend="numpy"']
    assert chosen_groups([quickstart], numpy, None) == ["state-complex128"]
    assert chosen_groups([quickstart], [*numpy, 'run.precision="complex64"'], None) == ["state-complex64"]
    assert chosen_groups([quickstart], ['run.backend="cupy"'], None) == []  # CuPy's kernels: not numba's
    assert chosen_groups([qkd, quickstart], numpy, ["qkd"]) == ["state-complex128", "qkd"]
    assert chosen_groups([repeater], numpy, None) == []
    assert chosen_groups([], [], None) == list(KERNEL_GROUPS)
    with pytest.raises(DqsimError, match=r"^--kernels gates: not a group of kernels; allowed: state-complex128"):
        chosen_groups([], [], ["gates"])
    assert {family for scenario in SCENARIOS.values() for family in scenario.kernels} == {"state", "qkd"}
