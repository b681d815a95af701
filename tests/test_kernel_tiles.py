"""The compiled tile kernels (dense k-qubit blocks, permutations) against the dense reference.

States are large enough (n = 12) that a kernel runs over many tiles and takes
both of its paths: contiguous rows (no target or control below log2 J) and
rows gathered through the tile pattern (a low target or control).
"""

import itertools
import os

import numpy as np
import pytest

from dqsim.backend import fast
from dqsim.state.gates import gate_op, unitary_op
from dqsim.state.sharded import ShardedState
from reference import run_ops
from conftest import TEST_BACKEND as BACKEND

N = 12


def random_state(n, seed):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    return psi / np.linalg.norm(psi)


def random_unitary(k, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
    return q


def applied(op, psi, precision="complex128"):
    if BACKEND is None:
        pytest.skip("no GPU")
    s = ShardedState(N, backend=BACKEND, precision=precision)
    s.set_state(psi)
    s.apply(op)
    return s.gather()


# (targets, controls): high bits only (contiguous rows), low bits, mixed, controls below the targets.
PLACES = {
    1: [([11], []), ([0], []), ([10], [1]), ([2], [11, 0])],
    2: [([10, 11], []), ([0, 1], []), ([11, 0], [5]), ([9, 3], [0])],
    3: [([9, 10, 11], []), ([2, 0, 1], []), ([11, 0, 6], [3]), ([10, 9, 4], [1, 2])],
    4: [([8, 9, 10, 11], []), ([3, 1, 0, 2], []), ([11, 0, 6, 3], [9])],
    5: [([7, 8, 9, 10, 11], []), ([4, 3, 2, 1, 0], []), ([11, 0, 6, 3, 9], [5])],
}


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_dense_tiles_match_reference(k, precision):
    psi = random_state(N, k)
    u = random_unitary(k, 10 + k)
    tol = 1e-12 if precision == "complex128" else 1e-5
    for targets, controls in PLACES[k]:
        op = unitary_op(u, targets, controls)
        got = applied(op, psi, precision)
        assert np.max(np.abs(got - run_ops(N, [op], psi.copy()))) < tol, (targets, controls)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_permutations_match_reference(k):
    rng = np.random.default_rng(k)
    psi = random_state(N, 20 + k)
    for targets, controls in PLACES[k]:
        order = rng.permutation(1 << k)
        while np.array_equal(order, np.arange(1 << k)):  # the identity would be a diagonal
            order = rng.permutation(1 << k)
        perm = np.eye(1 << k)[order]
        op = unitary_op(perm, targets, controls)
        assert fast.permutation_of(op.matrix) is not None
        got = applied(op, psi)
        assert np.array_equal(got, run_ops(N, [op], psi.copy())), (targets, controls)  # copies: exact


@pytest.mark.parametrize("name,qubits", [("cx", [1, 0]), ("cx", [0, 11]), ("cx", [11, 10]), ("x", [5]),
                                         ("ccx", [0, 11, 6]), ("cswap", [3, 0, 11])])
def test_named_permutation_gates_are_copies(name, qubits):
    psi = random_state(N, 3)
    op = gate_op(name, qubits)
    assert np.array_equal(applied(op, psi), run_ops(N, [op], psi.copy()))


def test_permutation_of_recognises_only_permutations():
    assert fast.permutation_of(np.eye(4)[[1, 0, 3, 2]]).tolist() == [1, 0, 3, 2]
    assert fast.permutation_of(np.array([[0, 1], [-1, 0]])) is None  # a sign is arithmetic
    assert fast.permutation_of(np.array([[1, 1], [0, 0]])) is None
    assert fast.permutation_of(np.diag([1, 1j])) is None


def test_tile_geometry_covers_every_group_once():
    for bits, cmask in [([0], 0), ([11], 0), ([3, 9], 1 << 5), ([0, 1, 2, 3, 4], 0)]:
        ins, pattern, offsets = fast._tile_geometry(bits, cmask, 1 << N)
        num_groups = (1 << N) >> ins.size
        assert num_groups % pattern.size == 0
        seen = set()
        for tile in range(num_groups // pattern.size):
            base = tile * pattern.size
            for b in ins.tolist():
                base = ((base >> b) << (b + 1)) | (base & ((1 << b) - 1))
            for p in pattern.tolist():
                for o in offsets.tolist():
                    seen.add((base | cmask) + p + o)
        expected = {i for i in range(1 << N) if (i & cmask) == cmask}
        assert seen == expected


def test_six_bit_block_matches_generic_kernel():
    """The largest block the CPU kernels accept (max_dense_qubits = 6), on the tiles' both paths."""
    from dqsim.state import kernels

    if BACKEND is None or BACKEND.fast is None or BACKEND.fast.max_dense_qubits < 6:
        pytest.skip("no compiled CPU kernels")
    psi = random_state(N, 6)
    u = random_unitary(6, 16)
    for bits, cmask in [([6, 7, 8, 9, 10, 11], 0), ([0, 11, 3, 5, 8, 1], 1 << 4)]:
        got = psi.copy()
        BACKEND.fast.dense(got, bits, u, cmask)
        ref = psi.copy()
        controls = [b for b in range(N) if (cmask >> b) & 1]
        kernels.apply_dense(np, ref, N, u, bits, controls)
        assert np.max(np.abs(got - ref)) < 1e-12, bits



@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n", [1, 2, 3, 5, 13])
def test_one_and_two_qubit_sweeps_match_reference(n, precision):
    """dense1 and dense2 on every bit (pair, both orders), dense1 and x with no or one control: runs, register blocks, tiles.

    n = 13 makes runs longer than RUN_AMPLITUDES at the top bits; n <= 3 gives
    shards smaller than one chunk.
    """
    kernels = fast.numba_kernels()
    psi = random_state(n, 30 + n)
    tol = 1e-12 if precision == "complex128" else 1e-5
    u1, u2 = random_unitary(1, 31), random_unitary(2, 32)
    for bit in range(n):
        got = psi.astype(precision)
        kernels.dense1(got, bit, u1, 0)
        assert np.max(np.abs(got - run_ops(n, [unitary_op(u1, [bit])], psi.copy()))) < tol, bit
    for a in range(n):
        for b in range(n):
            if a != b:
                got = psi.astype(precision)
                kernels.dense2(got, a, b, u2, 0)
                assert np.max(np.abs(got - run_ops(n, [unitary_op(u2, [a, b])], psi.copy()))) < tol, (a, b)
    x = np.array([[0, 1], [1, 0]])
    for bit in range(n):
        for controls in [[]] + [[c] for c in range(n) if c != bit]:
            cmask = sum(1 << c for c in controls)
            got = psi.astype(precision)
            kernels.dense1(got, bit, u1, cmask)
            assert np.max(np.abs(got - run_ops(n, [unitary_op(u1, [bit], controls)], psi.copy()))) < tol, (bit, controls)
            got = psi.astype(precision)
            kernels.permute(got, [bit], fast.permutation_of(x), cmask)
            assert np.array_equal(got, run_ops(n, [unitary_op(x, [bit], controls)], psi.copy()).astype(precision))

def test_ranks_on_one_node_share_its_cores_for_numba_threads():
    numba = pytest.importorskip("numba")
    before = numba.get_num_threads()
    try:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        most = numba.config.NUMBA_NUM_THREADS
        assert fast.share_cores(1, environ={}) == min(most, cores) == numba.get_num_threads()
        assert fast.share_cores(cores * 4, environ={}) == 1 == numba.get_num_threads()  # never below one thread
        assert fast.share_cores(2, environ={"NUMBA_NUM_THREADS": "1"}) is None  # the user's choice stands
    finally:
        numba.set_num_threads(before)


def test_cuda_dense_variant_reads_the_environment():
    """DQSIM_CUDA_DENSE picks the unrolled (default) or the generic k-qubit CUDA kernel; anything else is refused."""
    assert fast.cuda_dense_variant({}) == "auto"
    assert fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "fixed"}) == "fixed"
    assert fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "generic"}) == "generic"
    assert fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "tiled"}) == "tiled"
    assert fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "fma"}) == "fma"
    assert fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "lanes"}) == "lanes"
    with pytest.raises(ValueError, match="DQSIM_CUDA_DENSE"):
        fast.cuda_dense_variant({"DQSIM_CUDA_DENSE": "fast"})


def _check_dense_kernel(kernels, to_device, to_host, k):
    """``kernels.dense`` on low and middle bits (in a shuffled order) gives the dense reference's state."""
    rng = np.random.default_rng(k)
    n = 12
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    matrix, _ = np.linalg.qr(rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k)))
    for bits in (tuple(range(k)), tuple(range(7 - k, 7))[::-1]):
        expected = run_ops(n, [unitary_op(matrix, bits)], psi)
        device = to_device(psi)
        kernels.dense(device, bits, matrix, 0)
        np.testing.assert_allclose(to_host(device), expected, atol=1e-12)


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
def test_dense_kernel_check_holds_on_the_cpu_kernels():
    """The check the CUDA variants run below, on the numba kernels (so the check itself is right)."""
    for k in (3, 4, 5):
        _check_dense_kernel(fast.numba_kernels(), np.array, np.asarray, k)


@pytest.mark.skipif(BACKEND is None or not BACKEND.is_gpu, reason="needs DQSIM_TEST_BACKEND=cupy and a GPU")
@pytest.mark.parametrize("variant", ["auto", "fixed", "generic", "tiled", "fma", "lanes"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_cuda_dense_variants_match_reference(monkeypatch, variant, k):
    """Every k-qubit CUDA kernel gives the dense reference's state (complex128; n = 12, so tiles fit)."""
    monkeypatch.setenv("DQSIM_CUDA_DENSE", variant)
    kernels = fast.CupyKernels(BACKEND.xp)
    assert kernels.variant == variant
    _check_dense_kernel(kernels, BACKEND.xp.asarray, BACKEND.to_host, k)


def test_cuda_route_follows_the_measured_winners():
    """auto: lanes for 2-4 targets all below bit 5; the group kernel for small matrices with a low target or
    3+ targets, and for 5 targets; the ElementwiseKernel for 1-2 high targets and complex128 4-qubit blocks.
    Other variants force one kernel."""
    route = fast.cuda_route
    assert route("auto", (0, 4), 16, False) == "lanes" and route("auto", (3, 0, 1, 2), 8, True) == "lanes"
    assert route("auto", (0,), 16, False) == "groups"                       # k = 1 on bit 0: coalesced per thread
    assert route("auto", (0, 1, 2, 3, 4), 8, True) == "groups"               # 5 targets: matrix in global memory
    assert route("auto", (3, 7, 12, 18, 24), 16, True) == "groups"
    assert route("auto", (2, 9), 16, False) == "groups" and route("auto", (6, 7, 8), 16, True) == "groups"
    assert route("auto", (6, 9), 16, False) == "elementwise" and route("auto", (9,), 8, False) == "elementwise"
    assert route("auto", (3, 8, 15, 22), 16, True) == "elementwise"         # complex128 k = 4: 4 KiB matrix
    assert route("auto", (3, 8, 15, 22), 8, True) == "groups"               # complex64 k = 4: 2 KiB
    assert route("tiled", (9, 10, 11), 16, True) == "tiles" and route("tiled", (0, 9), 16, False) == "tiles"
    assert route("tiled", (9,), 16, False) == "elementwise"
    assert route("fma", (0, 1), 16, True) == "groups" and route("lanes", (0, 1), 16, True) == "lanes"
    assert route("lanes", (0, 1, 2, 3, 4), 16, True) == "groups"            # five targets: no lane kernel
    assert all(route(v, (0, 1, 2), 16, True) == "elementwise" for v in ("fixed", "generic"))


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n", [4, 5, 13])
def test_block_kernels_match_reference(monkeypatch, n, precision):
    """The register-block kernels, forced on for every case of ``block_plan`` in both precisions, on random states.

    1- and 2-qubit gates on every bit (pair, both orders) that the blocks take:
    targets and controls on bits 0-2 (one segment), or one target >= 3 and
    the rest on bits 0-2 (two segments), with no, one or two controls on bits
    0-2. n = 13 gives runs of RUN_AMPLITUDES (hi = 12) and many chunks; n = 4
    a shard of one chunk (two blocks, one per stream), the smallest they take.
    """
    monkeypatch.setattr(fast, "BLOCK_KERNELS", {case: frozenset({"complex128", "complex64"})
                                                for case in list(fast.BLOCK_KERNELS) + ["1q (hi)"]})
    kernels = fast.numba_kernels()
    tol = 1e-12 if precision == "complex128" else 1e-5
    highs = [b for b in (3, 4, 12) if b < n]
    calls = 0
    for seed in range(2):
        psi = random_state(n, 50 + seed)
        u1, u2 = random_unitary(1, 51 + seed), random_unitary(2, 52 + seed)
        for targets in [[b] for b in [0, 1, 2] + highs] + [[a, b] for a in range(3) for b in range(3) if a != b] \
                + [pair for lo in range(3) for hi in highs for pair in ([lo, hi], [hi, lo])]:
            free = [c for c in range(3) if c not in targets]
            for controls in [[]] + [[c] for c in free] + ([free] if len(free) == 2 else []):
                cmask = sum(1 << c for c in controls)
                assert fast.block_plan(targets, cmask) is not None
                u = u1 if len(targets) == 1 else u2
                got = psi.astype(precision)
                if len(targets) == 1:
                    kernels.dense1(got, targets[0], u, cmask)
                else:
                    kernels.dense2(got, targets[0], targets[1], u, cmask)
                want = run_ops(n, [unitary_op(u, targets, controls)], psi.copy())
                assert np.max(np.abs(got - want)) < tol, (targets, controls)
                calls += 1
    assert calls > 0


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n", [3, 4, 5, 13])
def test_dense8_low_blocks_match_reference(monkeypatch, n, precision):
    """Uncontrolled 3-qubit blocks on bits 0-2, every order of the bits: the register blocks
    (_numba_dense8_low) from 32 amplitudes on (one chunk, one block per stream), the tiles below
    (n = 3, 4) and with a control."""
    taken = []
    kernel = fast._numba_dense8_low
    monkeypatch.setattr(fast, "_numba_dense8_low", lambda *args: (taken.append(1), kernel(*args)))
    kernels = fast.numba_kernels()
    tol = 1e-12 if precision == "complex128" else 1e-5
    orders = [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]]
    for seed, targets in enumerate(orders):
        psi = random_state(n, 70 + seed)
        u = random_unitary(3, 80 + seed)
        got = psi.astype(precision)
        kernels.dense(got, targets, u, 0)
        want = run_ops(n, [unitary_op(u, targets, [])], psi.copy())
        assert np.max(np.abs(got - want)) < tol, targets
    assert len(taken) == (len(orders) if n >= 5 else 0)
    if n >= 4:  # a control: the tiles
        psi = random_state(n, 90)
        u = random_unitary(3, 91)
        got = psi.astype(precision)
        kernels.dense(got, [1, 0, 2], u, 1 << 3)
        want = run_ops(n, [unitary_op(u, [1, 0, 2], [3])], psi.copy())
        assert np.max(np.abs(got - want)) < tol
        assert len(taken) == (len(orders) if n >= 5 else 0)


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n", [7, 14])
def test_segment_blocks_match_reference(monkeypatch, n, precision):
    """Uncontrolled 3-qubit blocks with targets >= 3, every kind of SEGMENT_LOW, in shuffled orders.

    The high targets right above bit 2, with gaps, and at the top bit; n = 7 is the smallest
    shard the 8-segment kinds take (16 << 3 amplitudes), n = 14 sweeps several chunks. A 4-qubit
    block, a control and too small a shard stay on the tiles.
    """
    taken = []
    kernel = fast._numba_segments3
    monkeypatch.setattr(fast, "_numba_segments3", lambda *args: (taken.append(args[1]), kernel(*args)))
    kernels = fast.numba_kernels()
    tol = 1e-12 if precision == "complex128" else 1e-5
    rng = np.random.default_rng(60 + n)
    highs = {1: [[3], [n - 1]], 2: [[3, 4], [5, n - 1]], 3: [[3, 4, 5], [3, 5, n - 1]]}
    cases = 0
    for k, kinds in fast.SEGMENT_LOW.items():
        for kind, low in enumerate(kinds):
            for high in highs[k - len(low)]:
                targets = [int(b) for b in rng.permutation(list(low) + high)]
                psi = random_state(n, 100 + cases)
                u = random_unitary(k, 200 + cases)
                got = psi.astype(precision)
                kernels.dense(got, targets, u, 0)
                want = run_ops(n, [unitary_op(u, targets, [])], psi.copy())
                assert np.max(np.abs(got - want)) < tol, targets
                cases += 1
                assert taken[-1:] == [kind], targets
    assert len(taken) == cases == 14
    for targets, controls, size in (([3, 0, 4, 6], [], n), ([0, 4, 5], [1], n), ([3, 4, 5], [], 6)):
        assert _dense_error(kernels, size, targets, controls, precision, 300) < tol, targets
    assert len(taken) == cases


def _dense_error(kernels, n, targets, controls, precision, seed):
    """Largest deviation of ``kernels.dense`` (a random unitary on a random n-qubit state) from the reference."""
    psi = random_state(n, seed)
    u = random_unitary(len(targets), seed + 1)
    got = psi.astype(precision)
    kernels.dense(got, targets, u, sum(1 << c for c in controls))
    return np.max(np.abs(got - run_ops(n, [unitary_op(u, targets, controls)], psi.copy())))


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
@pytest.mark.parametrize("precision", ["complex128", "complex64"])
@pytest.mark.parametrize("n", [7, 8, 14])
def test_planar_blocks_match_reference(monkeypatch, n, precision):
    """Uncontrolled 4- and 5-qubit blocks on any bits, against the dense reference.

    n = 7 and 8: every placement of the targets (35 + 21 and 70 + 56 of them: every kind of
    PLANAR_LOW, the high targets right above bit 2, with gaps, at the top bit), in shuffled
    orders; n = 14 (several chunks): 24 random placements. Every kind is forced on in both
    precisions (PLANAR_KERNELS takes some only in complex64); checks that the planar driver is
    called with the kind of the low targets; a control sends the block to the tiles.
    """
    monkeypatch.setattr(fast, "PLANAR_KERNELS", {k: {low: frozenset({"complex128", "complex64"}) for low in range(4)}
                                                 for k in (4, 5)})
    taken = []
    for name in ("_numba_planar4", "_numba_planar5"):
        kernel = getattr(fast, name)
        monkeypatch.setattr(fast, name, lambda *args, kernel=kernel: (taken.append(args[1]), kernel(*args)))
    kernels = fast.numba_kernels()
    tol = 1e-12 if precision == "complex128" else 1e-5
    rng = np.random.default_rng(70 + n)
    if n < 14:
        places = [list(c) for k in (4, 5) for c in itertools.combinations(range(n), k)]
    else:
        places = [sorted(rng.choice(n, k, replace=False)) for k in (4, 5) for _ in range(12)]
    for case, bits in enumerate(places):
        targets = [int(b) for b in rng.permutation(bits)]
        psi = random_state(n, 400 + case)
        u = random_unitary(len(targets), 500 + case)
        got = psi.astype(precision)
        kernels.dense(got, targets, u, 0)
        want = run_ops(n, [unitary_op(u, targets, [])], psi.copy())
        assert np.max(np.abs(got - want)) < tol, targets
        assert taken[-1:] == [fast.PLANAR_LOW.index(tuple(b for b in bits if b < 3))], targets
    assert len(taken) == len(places)
    assert n == 14 or len(set(taken)) == len(fast.PLANAR_LOW)
    for targets, controls in (([3, 2, 4, 6], [5]), ([0, 3, 4, 5, 6], [1])):
        assert _dense_error(kernels, n, targets, controls, precision, 600) < tol, targets
    assert len(taken) == len(places)


@pytest.mark.skipif(fast.numba_kernels() is None, reason="numba kernels off or missing")
def test_planar_dispatch_follows_its_table(monkeypatch):
    """A placement whose number of low targets PLANAR_KERNELS leaves out in a precision goes to
    the tiles in that precision (and still matches the reference)."""
    taken = []
    kernel = fast._numba_planar4
    monkeypatch.setattr(fast, "_numba_planar4", lambda *args: (taken.append(args[1]), kernel(*args)))
    monkeypatch.setattr(fast, "PLANAR_KERNELS", {4: {0: frozenset({"complex64"}), 1: frozenset(), 2: frozenset(),
                                                     3: frozenset()}, 5: {low: frozenset() for low in range(4)}})
    kernels = fast.numba_kernels()
    for precision, tol, calls in (("complex128", 1e-12, 0), ("complex64", 1e-5, 1)):
        assert _dense_error(kernels, 9, [3, 5, 6, 8], [], precision, 700) < tol
        assert len(taken) == calls


def test_block_plan_takes_only_gates_inside_its_blocks():
    """Targets and controls on bits 0-2, or one target >= 3 with the rest on 0-2; nothing else."""
    assert fast.block_plan([1], 0b100)[:4] == ("c1q (low)", 1, 1, 0)
    assert fast.block_plan([0, 1], 0)[:3] == ("2q (0, 1)", 1, 3)
    assert fast.block_plan([5, 1], 0b1)[:4] == ("c2q (hi)", 2, 2, 5)
    assert fast.block_plan([3, 2], 0)[0] == "2q (2, 3)"
    assert fast.block_plan([12], 0b1000) is None  # a control above the block
    assert fast.block_plan([3, 12], 0) is None  # two targets above it
    assert fast.block_plan([0, 1, 2], 0) is None  # k = 3
