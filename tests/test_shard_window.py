"""Shards in a node-shared MPI window, exchanged in place, on 2 and 4 ranks (NumPy).

tests/mpi_scripts/shard_window_check.py runs the same states and operations
with ``DQSIM_SHARED_EXCHANGE`` = ``1`` (shards in one shared-memory window,
swapped in place between them), ``slots`` and ``0`` (messages): single
exchanges of a rank bit with the top local bit, bit 3 and bit 0 (and two
pairs at once on 4 ranks), a random circuit, and a register grown twice by
``add_qubit_``, in complex128 and complex64. Every path must give the same
amplitudes, bit for bit, and the same byte counts.
"""

import numpy as np
import pytest

from dqsim.backend import fast
from mpi_helper import run_mpi

MODES = ("1", "slots", "0")


#: ``DQSIM_SHARED_EXCHANGE`` of :func:`test_run_header_names_the_exchange_path_and_results_match`'s runs and the
#: path each run's header names.
HEADER_PATHS = (("1", "in place in a shared-memory window"), ("slots", "shared-memory slots"), ("0", "MPI messages"))


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    """One launch per rank count (tests/mpi_scripts/run_checks.py): on 2 ranks first the three ``dqsim run`` of
    :func:`test_run_header_names_the_exchange_path_and_results_match` (tests/mpi_scripts/dqsim_runs.py, each with its
    own ``DQSIM_SHARED_EXCHANGE``, read when a run makes its register), then on 2 and 4 ranks shard_window_check.py
    and shard_window_life.py (which leaves windows alive at exit: last; both set ``DQSIM_SHARED_EXCHANGE``
    themselves). ``{ranks: (check arrays, life arrays)}``, and under ``"header"`` the folder of the runs and the
    2-rank launch's completed process."""
    folder = tmp_path_factory.mktemp("shard_window")
    job = folder / "job.toml"
    job.write_text(CIRCUIT_JOB)
    lines = []
    for mode, _ in HEADER_PATHS:
        lines += [*(["--then"] if lines else []), f"@env:DQSIM_SHARED_EXCHANGE={mode}", "run", str(job), "-o",
                  str(folder / f"run_{mode}.h5")]
    out = {}
    for ranks in (2, 4):
        check, life = folder / f"check{ranks}.npz", folder / f"life{ranks}.npz"
        header = ["+".join(["dqsim_runs", *lines]), str(folder / "runs.txt")] if ranks == 2 else []
        done = run_mpi(ranks, ["tests/mpi_scripts/run_checks.py", *header, "shard_window_check", str(check),
                               "shard_window_life", str(life)], timeout_s=600)
        out[ranks] = {**np.load(check), "ranks": ranks}, dict(np.load(life))
        if header:
            out["header"] = folder, done
    return out


@pytest.fixture(params=[2, 4])
def both_checks(request, launches):
    """The arrays of shard_window_check.py and shard_window_life.py on 2 and 4 ranks (:func:`launches`):
    ``(check, life)``."""
    return launches[request.param]


@pytest.fixture
def results(both_checks):
    return both_checks[0]


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
def test_window_path_equals_slots_and_messages(results, precision):
    keys = {k[len(precision) + 3:] for k in results if k.startswith(f"{precision}_1_")}
    expected = {"top", "bit3", "bit0", "circuit", "grown", "grown2"}
    if results["ranks"] == 4:
        expected |= {"two", "twotop"}
    compared = {k.rsplit("_shard", 1)[0] for k in keys if not k.endswith(("_sent", "_windowed", "_initial", "_exchanges"))}
    assert expected <= compared
    for key in keys:
        if key.endswith("_windowed"):
            continue
        window = results[f"{precision}_1_{key}"]
        for mode in MODES[1:]:
            np.testing.assert_array_equal(window, results[f"{precision}_{mode}_{key}"], err_msg=f"{key} {mode}")
        if key.endswith("_shard"):
            assert not np.array_equal(window, results[f"{precision}_1_{key[:-6]}_initial"])  # data really moved
    for key in keys:
        if key.endswith("_windowed"):  # only the default mode puts the shards in a window
            assert results[f"{precision}_1_{key}"][0]
            assert not results[f"{precision}_slots_{key}"][0] and not results[f"{precision}_0_{key}"][0]
    assert results[f"{precision}_1_circuit_exchanges"][0] > 0 and results[f"{precision}_1_grown2_exchanges"][0] > 0


def test_dropped_states_free_their_windows(results):
    assert results["live_windows"][0] <= 2  # six states made and dropped: their windows were freed


@pytest.fixture
def lifetime(both_checks):
    return both_checks[1]


def test_grown_register_frees_its_old_window_at_once(lifetime):
    assert list(lifetime["grow_flags"]) == [True, True, 1, True] and lifetime["grow_equal"][0]
    assert lifetime["grow_windows"][0] == 1  # not the old window as well until the next allocation


def test_no_room_in_dev_shm_falls_back_with_identical_amplitudes(lifetime):
    # Room for the first shards only: add_qubit_ falls back to an ordinary array and frees the old window.
    assert list(lifetime["small_flags"]) == [True, False, 0, False]
    assert lifetime["small_windows"][0] == 0
    assert lifetime["small_equal"][0] and lifetime["small_exchanges"][0]
    assert list(lifetime["none_flags"]) == [False, False, 0, False] and lifetime["none_equal"][0]


def test_window_kept_only_by_a_reference_cycle_is_collected_when_room_runs_out(lifetime):
    assert lifetime["cycle_windowed"][0]


def test_states_dropped_in_different_orders_on_different_ranks(lifetime):
    assert lifetime["order_freed"][0] and lifetime["order_kept"][0] and lifetime["order_equal"][0]
    assert lifetime["order_new_windowed"][0]


CIRCUIT_JOB = """
[run]
name = "window_header"
seed = 5
backend = "numpy"
[circuit]
generator = "random"
num_qubits = 14
depth = 20
circuit_seed = 42
[simulation]
shots = 200
save_state = true
"""


def test_run_header_names_the_exchange_path_and_results_match(launches):
    """``dqsim run`` on 2 ranks says how exchanges travel; the window and slot runs write the same results. The
    three runs in one launch (the 2-rank one of :func:`launches`), each with its own ``DQSIM_SHARED_EXCHANGE``."""
    from dqsim.io import open_run

    folder, done = launches["header"]
    paths = HEADER_PATHS
    headers = [line.split("): ", 1)[1] for line in done.stdout.splitlines() if line.startswith("dqsim run ")]
    assert headers == [f"2 rank(s), numpy:cpu, complex128; exchanges: {words}" for _, words in paths], done.stdout
    assert (folder / "runs.txt").read_text() == "3\n"
    runs = {}
    for mode, words in paths:
        runs[mode] = open_run(folder / f"run_{mode}.h5")
        assert runs[mode].attrs["exchange_path"] == words
    for mode in ("slots", "0"):
        np.testing.assert_array_equal(runs["1"].state(), runs[mode].state())
        np.testing.assert_array_equal(runs["1"].table("counts"), runs[mode].table("counts"))


def test_ranks_on_several_nodes_exchange_by_messages(lifetime):
    assert lifetime["nodes_path"][0] and lifetime["nodes_equal"][0]


def test_without_numba_no_window_is_made_and_slots_give_the_same_state(lifetime):
    assert lifetime["nonumba_path"][0] and lifetime["nonumba_equal"][0]


RAISE_BETWEEN_ALLOCATIONS = """
from dqsim import comm as comm_mod
from dqsim.state.sharded import ShardedState
comm = comm_mod.init()
a = ShardedState(12, comm)
assert a._shared is not None
if comm.rank == 1:
    raise RuntimeError("an error on rank 1 between two allocations")
b = ShardedState(12, comm)  # rank 0 waits here in the collective allocation
"""


def test_an_error_on_one_rank_between_allocations_aborts_the_job(tmp_path):
    """Under ``python -m mpi4py`` an exception on one rank ends the job (MPI_Abort), never a hang in the window."""
    import sys

    from mpi_helper import mpiexec_path, run_command

    launcher = mpiexec_path()
    if launcher is None:
        pytest.skip("no mpiexec beside this Python")
    done = run_command([launcher, "-n", "2", sys.executable, "-m", "mpi4py", "-c", RAISE_BETWEEN_ALLOCATIONS],
                       timeout_s=120, check=False)
    assert done.returncode != 0
    assert "an error on rank 1 between two allocations" in done.stderr


def test_a_setting_on_some_ranks_only_gives_ordinary_shards_everywhere(lifetime):
    assert lifetime["mixed_setting_windowed"][0] == 0


def _index_swap(a, b, bits, offset_a, offset_b, start, stop):
    """The swap :func:`dqsim.backend.fast.cross_swap` makes, by NumPy fancy indexing: block
    elements ``start..stop-1`` of the amplitudes whose ``bits`` equal the offset's."""
    index = np.arange(a.size)
    mask = sum(1 << bit for bit in bits)
    ia = index[(index & mask) == offset_a][start:stop]
    ib = index[(index & mask) == offset_b][start:stop]
    a, b = a.copy(), b.copy()
    a[ia], b[ib] = b[ib], a[ia].copy()
    return a, b


def _random_shard(rng, n, precision, skip_bytes):
    """A random complex array of 2^n amplitudes starting ``skip_bytes`` past a 64-byte boundary."""
    dtype = np.dtype(precision)
    raw = np.empty((1 << n) * dtype.itemsize + 128, dtype=np.uint8)
    first = (-raw.ctypes.data % 64) + skip_bytes
    psi = raw[first : first + (1 << n) * dtype.itemsize].view(dtype)
    psi[...] = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    return psi


@pytest.mark.skipif(not fast.has_cross_swap(), reason="numba missing: no windows, no cross_swap")
@pytest.mark.parametrize("skip_bytes", [0, 16])
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("bits", [[0], [1], [2], [3], [4], [5], [8], [12], [13], [0, 12], [3, 7], [2, 5, 11]])
def test_cross_swap_matches_an_index_swap(precision, bits, skip_bytes):
    """Every run length of the vector swaps (8 bytes to 128 and beyond 256, in words of both
    precisions), one bit or several, each half of the block and the whole, two offsets; shards
    on a 64-byte boundary (runs of 64 and 128 bytes by non-temporal stores) and 16 bytes past."""
    n = 14
    rng = np.random.default_rng(len(bits) * 100 + bits[0])
    count = (1 << n) >> len(bits)
    offsets = [(1 << bits[0], 0), (sum(1 << b for b in bits), 1 << bits[-1])]
    for offset_a, offset_b in offsets:
        for start, stop in ((0, count), (0, count >> 1), (count >> 1, count)):
            a = _random_shard(rng, n, precision, skip_bytes)
            b = _random_shard(rng, n, precision, skip_bytes)
            want_a, want_b = _index_swap(a, b, bits, offset_a, offset_b, start, stop)
            fast.cross_swap(a, b, bits, offset_a, offset_b, start, stop)
            np.testing.assert_array_equal(a, want_a, err_msg=f"{bits} {offset_a} {offset_b} {start}:{stop}")
            np.testing.assert_array_equal(b, want_b, err_msg=f"{bits} {offset_a} {offset_b} {start}:{stop}")
