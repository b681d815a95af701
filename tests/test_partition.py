"""partition_qubits, nonlocal_gates, cut_size."""

from __future__ import annotations

import itertools
import time
import tracemalloc

import numpy as np
import pytest

from dqsim.circuit.ir import Circuit
from dqsim.circuit.partition import (_refine, candidate_qpus, contiguous_blocks, cut_size, interaction_weights,
                                     nonlocal_gates, partition_qubits, refine_on)
from dqsim.errors import CircuitError


def _random_circuit(rng: np.random.Generator, num_qubits: int, num_gates: int,
                    three_qubit: bool = False) -> Circuit:
    c = Circuit(num_qubits)
    for _ in range(num_gates):
        r = rng.random()
        if r < 0.2:
            c.gate("h", int(rng.integers(num_qubits)))
        elif three_qubit and r < 0.3 and num_qubits >= 3:
            c.gate("ccx", *[int(q) for q in rng.permutation(num_qubits)[:3]])
        else:
            c.gate("cx", *[int(q) for q in rng.permutation(num_qubits)[:2]])
    return c


def _edge_cut(circuit: Circuit, owner) -> int:
    """Weighted pair cut: each 2+-qubit gate adds one per pair of its qubits on different QPUs."""
    return sum(owner[a] != owner[b] for g in circuit.gates() if len(g.qubits) > 1
               for a, b in itertools.combinations(g.qubits, 2))


def _cluster_circuit(clusters, rng: np.random.Generator, num_qubits: int) -> Circuit:
    """Every pair inside a cluster interacts twice, in a shuffled order."""
    pairs = [p for cl in clusters for p in itertools.combinations(cl, 2)] * 2
    c = Circuit(num_qubits)
    for i in rng.permutation(len(pairs)):
        c.gate("cz", *pairs[i])
    return c


CAPACITY_CASES = [(6, [3, 3]), (7, [4, 4]), (8, [3, 1, 4]), (9, [2, 0, 5, 2]), (5, [5]), (10, [4, 3, 3])]


@pytest.mark.parametrize("num_qubits, capacities", CAPACITY_CASES)
def test_capacities_are_respected(num_qubits, capacities):
    rng = np.random.default_rng(num_qubits)
    for _ in range(5):
        c = _random_circuit(rng, num_qubits, 40, three_qubit=True)
        owner = partition_qubits(c, capacities)
        assert len(owner) == num_qubits
        assert all(isinstance(o, int) and 0 <= o < len(capacities) for o in owner)
        counts = np.bincount(owner, minlength=len(capacities))
        assert np.all(counts <= capacities)


def test_two_dense_clusters_joined_by_one_gate_give_cut_one():
    rng = np.random.default_rng(1)
    a, b = [0, 2, 5, 7], [1, 3, 4, 6]  # interleaved, so contiguous blocks cut a lot
    c = _cluster_circuit([a, b], rng, 8).gate("cx", 2, 4)
    owner = partition_qubits(c, [4, 4])
    assert cut_size(c, owner) == 1
    assert len({owner[q] for q in a}) == 1 and len({owner[q] for q in b}) == 1
    assert cut_size(c, contiguous_blocks(8, [4, 4])) > 1


def test_three_clusters_on_unequal_qpus():
    rng = np.random.default_rng(2)
    clusters = [[8, 0, 4], [1, 6], [2, 3, 5, 7]]
    c = _cluster_circuit(clusters, rng, 9).gate("cx", 0, 1).gate("cx", 6, 7)
    owner = partition_qubits(c, [4, 2, 3])
    assert cut_size(c, owner) == 2
    for cl in clusters:
        assert len({owner[q] for q in cl}) == 1


@pytest.mark.parametrize("seed", range(4))
def test_line_interaction_on_two_qpus_gives_cut_one(seed):
    rng = np.random.default_rng(seed)
    n = 10
    labels = [int(q) for q in rng.permutation(n)]  # the line visits the qubits in a random order
    c = Circuit(n)
    for _ in range(3):
        for i in range(n - 1):
            c.gate("cx", labels[i], labels[i + 1])
    owner = partition_qubits(c, [5, 5])
    assert cut_size(c, owner) == 3  # the line is cut once, and each layer crosses it once
    assert _edge_cut(c, owner) == 3


def test_assignment_is_validated_and_returned():
    c = Circuit(4).gate("cx", 0, 3)
    assert partition_qubits(c, [2, 2], assignment=(1, 0, 0, 1)) == [1, 0, 0, 1]
    with pytest.raises(CircuitError, match="assignment has 3 entries.*num_qubits 4"):
        partition_qubits(c, [2, 2], assignment=[0, 0, 1])
    with pytest.raises(CircuitError, match=r"assignment\[2\] = 5: qubit 2 is assigned to QPU 5, outside 0\.\.1"):
        partition_qubits(c, [2, 2], assignment=[0, 1, 5, 1])
    with pytest.raises(CircuitError, match=r"assignment\[0\] = -1"):
        partition_qubits(c, [2, 2], assignment=[-1, 1, 0, 1])
    with pytest.raises(CircuitError, match="puts 3 qubits on QPU 1, more than its capacity 2"):
        partition_qubits(c, [2, 2], assignment=[0, 1, 1, 1])


def test_total_capacity_too_small():
    c = Circuit(5)
    with pytest.raises(CircuitError, match="total QPU capacity 4 is smaller than the circuit's num_qubits 5"):
        partition_qubits(c, [2, 2])
    with pytest.raises(CircuitError, match="total QPU capacity 4"):
        partition_qubits(c, [2, 2], assignment=[0, 0, 1, 1, 1])


def test_bad_capacities():
    c = Circuit(2)
    with pytest.raises(CircuitError, match="capacities is empty"):
        partition_qubits(c, [])
    with pytest.raises(CircuitError, match=r"capacities\[1\] = -1"):
        partition_qubits(c, [3, -1])


def test_deterministic():
    rng = np.random.default_rng(5)
    c = _random_circuit(rng, 12, 80, three_qubit=True)
    first = partition_qubits(c, [5, 4, 3])
    again = partition_qubits(c, [5, 4, 3])
    copy = Circuit(12, instructions=list(c.instructions))
    assert first == again == partition_qubits(copy, (5, 4, 3))


@pytest.mark.parametrize("seed", range(12))
def test_refined_cut_never_worse_than_contiguous_blocks(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(4, 14))
    num_qpus = int(rng.integers(2, 5))
    caps = [int(x) for x in rng.multinomial(n - num_qpus, [1 / num_qpus] * num_qpus) + 1]
    caps[int(rng.integers(num_qpus))] += int(rng.integers(0, 3))  # sometimes some slack
    c = _random_circuit(rng, n, int(rng.integers(5, 60)))
    owner = partition_qubits(c, caps)
    blocks = contiguous_blocks(n, caps)
    assert cut_size(c, owner) <= cut_size(c, blocks)
    c3 = _random_circuit(rng, n, int(rng.integers(5, 60)), three_qubit=True)
    assert _edge_cut(c3, partition_qubits(c3, caps)) <= _edge_cut(c3, blocks)


@pytest.mark.parametrize("seed", range(6))
def test_optimal_on_small_instances(seed):
    """Not guaranteed in general; on these small instances brute force agrees."""
    rng = np.random.default_rng(200 + seed)
    n, caps = 8, [4, 4]
    c = _random_circuit(rng, n, 14)
    best = min(cut_size(c, [int(q in part) for q in range(n)])
               for part in itertools.combinations(range(n), 4))
    assert cut_size(c, partition_qubits(c, caps)) == best


def test_trivial_cases():
    c = Circuit(3).gate("h", 0).gate("cx", 0, 2)
    assert partition_qubits(c, [3]) == [0, 0, 0]
    assert partition_qubits(Circuit(4).gate("h", 1), [1, 2, 1]) == [0, 1, 1, 2]
    assert contiguous_blocks(4, [1, 2, 1]) == [0, 1, 1, 2]
    # slack: everything fits on one QPU, so nothing is cut
    assert cut_size(c, partition_qubits(c, [3, 3])) == 0


def test_nonlocal_gates_and_cut_size():
    c = Circuit(4, 1)
    c.gate("cx", 0, 1).barrier().gate("h", 2).gate("cz", 2, 3).measure(0, 0).gate("ccx", 0, 1, 2)
    c.gate("swap", 1, 3)
    owner = [0, 0, 1, 1]
    assert nonlocal_gates(c, owner) == [5, 6]
    assert cut_size(c, owner) == 2
    assert nonlocal_gates(c, [0, 0, 0, 0]) == []
    with pytest.raises(CircuitError, match="owner has 3 entries"):
        cut_size(c, [0, 0, 1])


def test_larger_circuit_is_fast():
    rng = np.random.default_rng(9)
    c = _random_circuit(rng, 64, 400, three_qubit=True)
    start = time.perf_counter()
    owner = partition_qubits(c, [16, 16, 16, 16])
    assert time.perf_counter() - start < 10.0
    assert _edge_cut(c, owner) <= _edge_cut(c, contiguous_blocks(64, [16] * 4))


@pytest.mark.parametrize("seed", range(40))
def test_refining_on_candidate_qpus_equals_refining_on_every_qpu(seed):
    """The placement the planner keeps (refined on at most 2n + 1 QPUs) is the one Kernighan–Lin passes over every
    QPU find: many QPUs of capacity 0, 1 or more (empty ones before, between and after the start's), any start."""
    rng = np.random.default_rng(300 + seed)
    n = int(rng.integers(2, 8))
    num_qpus = int(rng.integers(n, 60))
    cap = rng.choice([0, 1, 1, 2, 3], size=num_qpus, p=[0.3, 0.3, 0.2, 0.1, 0.1]).astype(np.int64)
    while cap.sum() < n:
        cap[int(rng.integers(num_qpus))] += 1
    slots = np.repeat(np.arange(num_qpus), cap)
    start = rng.permutation(slots)[:n].astype(np.int64)  # a random placement within the capacities
    w = interaction_weights(_random_circuit(rng, n, int(rng.integers(1, 25)), three_qubit=bool(seed % 2)))
    everywhere = refine_on(w, start, cap)
    assert len(candidate_qpus(start, cap)) <= 2 * n + 1
    assert _refine(w, start, cap).tolist() == everywhere.tolist()


def test_refining_reaches_the_first_empty_qpu_past_the_qubits():
    """Two coupled qubits on QPUs 0 and 1 of capacity 1: the pass moves one to QPU 2 (the first QPU they leave
    empty, capacity 2; gain 0, moves before swaps) and the other after it, so both end on QPU 2 (n + 1 candidates)."""
    w, cap, start = np.array([[0, 1], [1, 0]]), np.array([1, 1, 2, 1, 1]), np.array([0, 1])
    assert refine_on(w, start, cap).tolist() == _refine(w, start, cap).tolist() == [2, 2]


def test_partition_memory_does_not_grow_with_qpus_times_qubits():
    """A 4-qubit GHZ over 2^15 one-qubit QPUs (a long line's planner): the traced peak stays under 64 bytes a QPU
    (a qubits x QPUs int64 matrix per refinement step was ~200)."""
    c = Circuit(4).gate("h", 0).gate("cx", 0, 1).gate("cx", 1, 2).gate("cx", 2, 3)
    caps = [1] * 2**15
    expected = partition_qubits(c, caps[:16])
    tracemalloc.start()
    try:
        owner = partition_qubits(c, caps)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert owner == expected
    assert peak < 64 * len(caps), peak / len(caps)
