"""Every gate and kernel against the dense reference, on one process."""

import dataclasses

import numpy as np
import pytest

from dqsim.errors import CircuitError, DqsimError, ResourceError
from dqsim.state import kernels
from dqsim.state.gates import GATES, gate_op, unitary_op
from dqsim.state.layout import Layout, plan_swaps
from dqsim.state.sharded import ShardedState, estimate_memory_bytes
from reference import run_ops
from conftest import TEST_BACKEND as BACKEND


GENERIC = dataclasses.replace(BACKEND, fast=None) if BACKEND is not None else None


def make(n, **kw):
    if BACKEND is None:
        pytest.skip("no GPU")
    return ShardedState(n, backend=BACKEND, **kw)


def test_compiled_kernels_are_in_use_where_available():
    pytest.importorskip("numba")
    assert BACKEND.fast is not None

N = 5


def random_state(n, seed):
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=1 << n) + 1j * rng.normal(size=1 << n)
    return psi / np.linalg.norm(psi)


@pytest.mark.parametrize("kernels", ["compiled", "generic"])
@pytest.mark.parametrize("name", sorted(GATES))
def test_every_named_gate_matches_reference(name, kernels):
    spec = GATES[name]
    rng = np.random.default_rng(abs(hash(name)) % 1000)
    psi = random_state(N, 1)
    for trial in range(4):
        qubits = [int(q) for q in rng.choice(N, spec.num_qubits, replace=False)]
        params = rng.uniform(-np.pi, np.pi, spec.num_params)
        op = gate_op(name, qubits, params)
        s = make(N, kernel_chunk_bytes=64)
        if kernels == "generic":
            s.backend = GENERIC
        s.set_state(psi)
        s.apply(op)
        assert np.allclose(s.gather(), run_ops(N, [op], psi.copy()), atol=1e-12), (name, qubits)


@pytest.mark.parametrize("kernels", ["compiled", "generic"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_dense_unitary_with_controls(k, kernels):
    rng = np.random.default_rng(k)
    n = 7
    m = rng.normal(size=(1 << k, 1 << k)) + 1j * rng.normal(size=(1 << k, 1 << k))
    u, _ = np.linalg.qr(m)
    qubits = [int(q) for q in rng.choice(n, k + 1, replace=False)]
    psi = random_state(n, k)
    s = make(n)
    if kernels == "generic":
        s.backend = GENERIC
    s.set_state(psi)
    s.apply_matrix(u, qubits[1:], controls=qubits[:1])
    ref = run_ops(n, [unitary_op(u, qubits[1:], qubits[:1])], psi.copy())
    assert np.allclose(s.gather(), ref, atol=1e-12)


def test_swap_gate_is_a_relabel():
    s = make(3)
    s.apply_gate("x", [0])
    s.apply_gate("swap", [0, 2])
    assert s.layout.physical_of == [2, 1, 0]
    out = s.gather()
    assert out[4] == 1 and np.count_nonzero(out) == 1


def test_bit_view_and_pieces_cover_everything():
    psi = np.arange(64)
    view, axis_of = kernels.bit_view(psi, 6, [1, 4])
    assert view.shape == (2, 2, 4, 2, 2)
    seen = np.concatenate([p.reshape(-1) for p in kernels.iter_pieces(view, 3)])
    assert sorted(seen.tolist()) == list(range(64))


def test_plan_swaps_prefers_furthest_used_local_bit():
    lay = Layout(4, 2)  # logical 2, 3 on rank bits
    ops = [gate_op("h", [2]), gate_op("h", [0]), gate_op("h", [0]), gate_op("h", [1])]
    pairs = plan_swaps(lay, ops, 0, lookahead=0)
    # local bit 1 (logical 1) is used later than local bit 0 (logical 0)
    assert pairs == [(2, 1)]


def test_plan_swaps_batches_upcoming_rank_qubits():
    lay = Layout(6, 3)
    ops = [gate_op("h", [3]), gate_op("h", [4]), gate_op("h", [0])]
    pairs = plan_swaps(lay, ops, 0)
    assert sorted(p for p, _ in pairs) == [3, 4]
    assert all(local != 0 for _, local in pairs)


def test_memory_estimate_and_refusal():
    est = estimate_memory_bytes(30, 1)
    assert est["shard"] == (1 << 30) * 16
    with pytest.raises(ResourceError, match="GiB"):
        ShardedState(40)  # 16 TiB


def test_bad_inputs_are_clear():
    s = make(3)
    with pytest.raises(DqsimError, match="qubit index 5"):
        s.apply_gate("h", [5])
    with pytest.raises(CircuitError, match="not unitary"):
        s.apply_matrix(np.array([[1, 1], [0, 1]]), [0])
    with pytest.raises(CircuitError, match="not known"):
        gate_op("foo", [0])
    with pytest.raises(CircuitError, match="acts on 2"):
        gate_op("cx", [0])
    with pytest.raises(CircuitError, match="repeated"):
        gate_op("cx", [1, 1])
    with pytest.raises(CircuitError, match="1..5"):
        unitary_op(np.eye(64), list(range(6)))
    with pytest.raises(DqsimError, match="basis"):
        s.measure([0], basis="W")
    with pytest.raises(ResourceError, match="max_gather_qubits"):
        make(4, max_gather_qubits=3).gather()


def test_non_power_of_two_ranks_names_valid_counts():
    class ThreeRanks:
        rank, size, node_local_size = 0, 3, 3

    with pytest.raises(ResourceError, match="use 2 or 4"):
        ShardedState(5, ThreeRanks())


def test_expectation_of_pauli_sum_against_matrix():
    from reference import pauli_matrix

    n = 5
    psi = random_state(n, 4)
    s = make(n)
    s.set_state(psi)
    terms = [(0.3, "XYZ", (0, 2, 4)), (-1.2, "ZZ", (1, 3)), (0.7, "YIX", (4, 1, 0))]
    expected = sum(c * np.vdot(psi, pauli_matrix(p, q, n) @ psi).real for c, p, q in terms)
    assert s.expectation(terms) == pytest.approx(expected, abs=1e-12)


def test_overlap_fidelity_norm():
    n = 4
    a, b = make(n), make(n)
    pa, pb = random_state(n, 1), random_state(n, 2)
    a.set_state(pa)
    b.set_state(pb)
    assert a.overlap(b) == pytest.approx(np.vdot(pa, pb), abs=1e-12)
    assert a.fidelity(b) == pytest.approx(abs(np.vdot(pa, pb)) ** 2, abs=1e-12)
    assert a.norm() == pytest.approx(1.0, abs=1e-12)


def test_complex64_matches_within_its_tolerance():
    n = 6
    ops = [gate_op("h", [q]) for q in range(n)] + [gate_op("rzz", [0, 5], [0.3]), gate_op("crx", [2, 1], [1.1])]
    s = make(n, precision="complex64")
    s.apply_ops(ops)
    out = s.gather()
    assert out.dtype == np.complex64
    assert np.allclose(out, run_ops(n, ops), atol=1e-5)


def test_plan_swaps_breaks_ties_toward_the_highest_local_bit():
    lay = Layout(6, 4)
    pairs = plan_swaps(lay, [gate_op("h", [5])], 0)
    assert pairs == [(5, 3)]  # the least strided slice travels


def test_relayout_is_the_inverse_of_canonicalize():
    from dqsim.state.sharded import ShardedState

    rng = np.random.default_rng(3)
    s = ShardedState(5, seed=1)
    vec = rng.normal(size=32) + 1j * rng.normal(size=32)
    s.set_state(vec / np.linalg.norm(vec))
    before = s.gather()
    target = [3, 0, 4, 1, 2]
    s.relayout_(target)
    assert s.layout.physical_of == target
    assert np.array_equal(s.gather(), before)


def test_logical_slab_pieces_share_splits_a_replicated_register_into_equal_parts():
    rng = np.random.default_rng(5)
    s = ShardedState(5, seed=1, kernel_chunk_bytes=5 * 16)  # pieces of 5 amplitudes: parts end mid-piece
    vec = rng.normal(size=32) + 1j * rng.normal(size=32)
    s.set_state(vec / np.linalg.norm(vec))
    s.relayout_([3, 0, 4, 1, 2])
    whole = s.gather()
    parts = []
    for index in range(4):
        pieces = list(s.logical_slab_pieces(share=(index, 4)))
        assert pieces[0][0] == 0 and all(p.size <= 5 for _o, p in pieces)
        part = np.concatenate([p for _o, p in pieces])
        assert part.size == 8 and [o for o, _p in pieces] == list(np.cumsum([0] + [p.size for _o, p in pieces])[:-1])
        parts.append(part)
    assert np.array_equal(np.concatenate(parts), whole)
    with pytest.raises(ValueError, match="equal parts"):
        list(s.logical_slab_pieces(share=(0, 3)))


@pytest.mark.parametrize("precision", ["complex128", "complex64"])
def test_cpu_shard_starts_on_a_cache_line(precision):
    """The shard (and a grown one) starts on a 64-byte boundary: NumPy's own large arrays start
    16 bytes past one on the dev VM, where the 3-qubit block kernel on the top bits then ran at
    0.41-0.42 of a copy against 0.62-0.69 (bench/results/kernel_bench-vm-k3top-20261205.md)."""
    from dqsim import backend as backend_mod  # noqa: PLC0415

    state = make(20, precision=precision)
    if state.backend.is_gpu:
        pytest.skip("CuPy allocates its own way")
    for _ in range(2):
        shard = state.amplitudes
        assert shard.ctypes.data % backend_mod.SHARD_ALIGN_BYTES == 0
        assert shard.dtype == np.dtype(precision) and shard.flags.c_contiguous and shard.flags.writeable
        assert shard.size == 1 << state.num_local_qubits and shard[0] == 1 and np.count_nonzero(shard) == 1
        state.add_qubit_()
