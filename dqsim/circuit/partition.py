"""Place the logical qubits of a circuit on QPUs of limited capacity.

Every gate whose qubits lie on more than one QPU costs EPR pairs (a TeleGate
or a TeleData per cut pair), so :func:`partition_qubits` looks for a placement
with few such gates. Graph partitioning is NP-hard; the heuristic here is
deterministic but not guaranteed to find the optimum.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from dqsim.circuit.ir import Circuit, Gate
from dqsim.errors import CircuitError, count_of


def _check_capacities(capacities: Sequence[int], num_qubits: int) -> list[int]:
    caps = [int(c) for c in capacities]
    if not caps:
        raise CircuitError("capacities is empty: need at least one QPU")
    for i, c in enumerate(caps):
        if c < 0:
            raise CircuitError(f"capacities[{i}] = {c}: a QPU capacity must be >= 0")
    if sum(caps) < num_qubits:
        raise CircuitError(f"total QPU capacity {sum(caps)} is smaller than the circuit's "
                           f"num_qubits {num_qubits}: add QPUs or raise capacities")
    return caps


def _check_owner(owner: Sequence[int], num_qubits: int, caps: list[int] | None, what: str) -> list[int]:
    owner = [int(o) for o in owner]
    if len(owner) != num_qubits:
        raise CircuitError(f"{what} has {len(owner)} entries; the circuit has num_qubits {num_qubits}")
    if caps is None:
        return owner
    for q, o in enumerate(owner):
        if not 0 <= o < len(caps):
            raise CircuitError(f"{what}[{q}] = {o}: qubit {q} is assigned to QPU {o}, "
                               f"outside 0..{len(caps) - 1}")
    counts = np.bincount(owner, minlength=len(caps))
    for i, (n, c) in enumerate(zip(counts, caps)):
        if n > c:
            raise CircuitError(f"{what} puts {count_of(int(n), 'qubit')} on QPU {i}, more than its capacity {c}")
    return owner


def interaction_weights(circuit: Circuit) -> np.ndarray:
    """Symmetric ``(n, n)`` int64 matrix: number of 2+-qubit gates coupling each pair (``if`` blocks too); all
    :func:`partition_qubits` looks at of the circuit.

    Examples:
        >>> interaction_weights(Circuit(3).gate("cx", 0, 2).gate("h", 1).gate("cz", 2, 0)).tolist()
        [[0, 0, 2], [0, 0, 0], [2, 0, 0]]
    """
    n = circuit.num_qubits
    w = np.zeros((n, n), dtype=np.int64)
    for ins in circuit.all_gates():
        if len(ins.qubits) > 1:
            qs = ins.qubits
            for i, a in enumerate(qs):
                for b in qs[i + 1:]:
                    w[a, b] += 1
                    w[b, a] += 1
    return w


def _edge_cut(w: np.ndarray, owner: np.ndarray) -> int:
    """Total weight of pairs on different QPUs."""
    diff = owner[:, None] != owner[None, :]
    return int(w[diff].sum() // 2)


def contiguous_blocks(num_qubits: int, capacities: Sequence[int]) -> list[int]:
    """Qubits 0, 1, … fill QPU 0 up to its capacity, then QPU 1, and so on.

    Args:
        num_qubits: number of logical qubits, ``>= 1``.
        capacities: qubits each QPU can hold, each ``>= 0``, summing to at least
            ``num_qubits``.

    Returns:
        ``owner[q]``, the QPU index of qubit q.

    Raises:
        CircuitError: empty or negative capacities, or total capacity too small.

    Examples:
        >>> contiguous_blocks(5, [2, 0, 4])
        [0, 0, 2, 2, 2]
    """
    caps = _check_capacities(capacities, num_qubits)
    owner: list[int] = []
    for i, c in enumerate(caps):
        if len(owner) == num_qubits:
            break
        owner.extend([i] * min(c, num_qubits - len(owner)))
    return owner


def _greedy_growth(w: np.ndarray, caps: list[int], order: Sequence[int]) -> np.ndarray:
    """Fill the QPUs in ``order``, each grown from the heaviest unplaced qubit.

    A QPU starts from the unplaced qubit with the largest total interaction
    weight and repeatedly takes the unplaced qubit most strongly coupled to it
    (ties: larger total weight, then lower index) until it is full.
    """
    n = w.shape[0]
    total = w.sum(axis=1)
    owner = np.full(n, -1, dtype=np.int64)
    unplaced = np.ones(n, dtype=bool)
    for part in order:
        part = int(part)
        conn = np.zeros(n, dtype=np.int64)
        for _ in range(min(caps[part], int(unplaced.sum()))):
            # lexsort: last key is primary; -index keeps the lowest index first on ties.
            candidates = np.flatnonzero(unplaced)
            ranked = np.lexsort((candidates, -total[candidates], -conn[candidates]))
            q = int(candidates[ranked[0]])
            owner[q] = part
            unplaced[q] = False
            conn += w[:, q]
        if not unplaced.any():
            break
    return owner


def candidate_qpus(owner: np.ndarray, caps: Sequence[int]) -> np.ndarray:
    """The QPUs :func:`_refine` can place a qubit on, in increasing index: those ``owner`` uses and the first
    ``n + 1`` QPUs of nonzero capacity (``n = len(owner)``); at most ``2n + 1`` of them, however many QPUs.

    Refining on these columns only (:func:`refine_on`) gives the placement refining on every QPU gives: an empty
    QPU's gain for a qubit is the same for every empty QPU (no qubit there), so a pass's best move to an empty QPU
    (lowest index first on ties) goes to the lowest-index empty QPU of nonzero capacity, which is among the first
    ``n + 1`` of them (``n`` qubits leave one of those empty); by induction every QPU a qubit is on is a candidate.

    Examples:
        >>> candidate_qpus(np.array([7, 7]), [0, 2, 0, 1, 1, 1, 0, 2]).tolist()
        [1, 3, 4, 7]
    """
    cap = np.asarray(caps, dtype=np.int64)
    room: list[int] = []
    for start in range(0, len(cap), _CHUNK):  # (in chunks: no index array over every QPU)
        room.extend((np.flatnonzero(cap[start:start + _CHUNK] > 0)[:len(owner) + 1 - len(room)] + start).tolist())
        if len(room) > len(owner):
            break
    # (a set of at most 2n + 1: np.union1d would import numpy.ma, ~1 MB, on a run's first plan)
    return np.asarray(sorted(set(room).union(int(q) for q in owner)), dtype=np.int64)


#: QPUs :func:`candidate_qpus` looks at per NumPy pass.
_CHUNK = 4096


def _refine(w: np.ndarray, owner: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """:func:`refine_on` the :func:`candidate_qpus` of ``owner``: the placement of Kernighan–Lin passes over every
    QPU (``cap``: their capacities), in memory and time of the qubit count alone (not qubits × QPUs)."""
    columns = candidate_qpus(owner, cap)
    return columns[refine_on(w, np.searchsorted(columns, owner), cap[columns])]


def refine_on(w: np.ndarray, owner: np.ndarray, caps: Sequence[int]) -> np.ndarray:
    """Kernighan–Lin passes with moves and swaps, under the QPU capacities (``owner`` indexes ``caps``).

    One pass repeatedly applies the feasible operation of largest gain (moving
    an unlocked qubit to a QPU with room, or swapping two unlocked qubits on
    different QPUs; ties: moves first, then lowest indices), even when the gain
    is negative, and locks the qubits it touched. The pass then keeps the
    prefix of operations with the largest positive total gain. Passes repeat
    until one finds no improvement; the edge cut strictly decreases from pass
    to pass, so this terminates.
    """
    n, k = w.shape[0], len(caps)
    owner = owner.copy()
    cap = np.asarray(caps, dtype=np.int64)
    rows = np.arange(n)
    while True:
        onehot = np.zeros((n, k), dtype=np.int64)
        onehot[rows, owner] = 1
        conn = w @ onehot  # conn[q, p]: weight between q and the qubits on QPU p
        size = onehot.sum(axis=0)
        locked = np.zeros(n, dtype=bool)
        history: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # (qubits, old owners)
        gains: list[int] = []
        for _ in range(n):
            free = ~locked
            if not free.any():
                break
            # gain[q, p] of moving q to p: edges to p become internal, edges to its QPU become cut.
            gain = conn - conn[rows, owner][:, None]
            move_ok = free[:, None] & (size < cap)[None, :] & (np.arange(k)[None, :] != owner[:, None])
            swap_gain = gain[:, owner] + gain[:, owner].T - 2 * w
            swap_ok = (free[:, None] & free[None, :] & (owner[:, None] != owner[None, :])
                       & (rows[:, None] < rows[None, :]))
            best: tuple[int, tuple[int, ...], tuple[int, ...]] | None = None
            if move_ok.any():
                flat = int(np.argmax(np.where(move_ok, gain, np.iinfo(np.int64).min)))
                q, p = divmod(flat, k)
                best = (int(gain[q, p]), (q,), (p,))
            if swap_ok.any():
                flat = int(np.argmax(np.where(swap_ok, swap_gain, np.iinfo(np.int64).min)))
                q, r = divmod(flat, n)
                if best is None or swap_gain[q, r] > best[0]:
                    best = (int(swap_gain[q, r]), (q, r), (int(owner[r]), int(owner[q])))
            if best is None:
                break
            g, qubits, targets = best
            history.append((qubits, tuple(int(owner[q]) for q in qubits)))
            gains.append(g)
            for q, p in zip(qubits, targets):
                _move(w, conn, size, owner, q, p)
                locked[q] = True
        if not gains:
            return owner
        cumulative = np.cumsum(gains)
        keep = int(np.argmax(cumulative))  # first prefix reaching the best total
        if cumulative[keep] <= 0:
            keep = -1
        for qubits, old in reversed(history[keep + 1:]):
            for q, p in zip(qubits, old):
                owner[q] = p
        if keep < 0:
            return owner


def _move(w: np.ndarray, conn: np.ndarray, size: np.ndarray, owner: np.ndarray, q: int, p: int) -> None:
    old = owner[q]
    conn[:, old] -= w[:, q]
    conn[:, p] += w[:, q]
    size[old] -= 1
    size[p] += 1
    owner[q] = p


def partition_qubits(circuit: Circuit, capacities: Sequence[int], *,
                     assignment: Sequence[int] | None = None) -> list[int]:
    """Assign each logical qubit to a QPU, cutting few multi-qubit gates.

    With ``assignment`` the given placement is checked and returned. Otherwise
    the objective is the weighted edge cut of the interaction graph (edge
    weight = number of 2+-qubit gates coupling the pair; a 3-qubit gate couples
    all three pairs), which equals :func:`cut_size` for circuits of one- and
    two-qubit gates. Heuristic (deterministic, not guaranteed optimal):

    1. three starts: greedy growth filling the QPUs largest capacity first,
       greedy growth filling them in index order (each QPU grows from the
       heaviest unplaced qubit by adding the unplaced qubit most strongly
       coupled to it), and :func:`contiguous_blocks`;
    2. each start is refined by Kernighan–Lin passes of single-qubit moves (to
       QPUs with room) and pairwise swaps, keeping the best prefix of each
       pass, until a pass brings no improvement;
    3. the refined start with the smallest edge cut wins (ties: the earlier
       start).

    The result's edge cut is never larger than that of the contiguous blocks.
    A refinement pass costs O(num_qubits³) array operations (about 3 s in all
    for 200 qubits and 3000 gates), on at most ``2 * num_qubits + 1`` QPUs
    (:func:`candidate_qpus`) however many the network has.

    Args:
        circuit: the circuit whose qubits are placed.
        capacities: qubits each QPU can hold, each ``>= 0``; their sum must be
            at least ``circuit.num_qubits``.
        assignment: optional fixed placement, ``assignment[q]`` in
            ``0..len(capacities)-1``, respecting the capacities.

    Returns:
        ``owner[q]``: the index of the QPU holding logical qubit q.

    Raises:
        CircuitError: empty or negative capacities, total capacity below
            ``num_qubits``, or an invalid ``assignment`` (wrong length, QPU index
            out of range, capacity exceeded).

    Examples:
        >>> c = Circuit(4).gate("cx", 0, 2).gate("cx", 1, 3).gate("cx", 0, 2)
        >>> owner = partition_qubits(c, [2, 2])
        >>> owner, cut_size(c, owner)
        ([0, 1, 0, 1], 0)
    """
    caps = _check_capacities(capacities, circuit.num_qubits)
    if assignment is not None:
        return _check_owner(assignment, circuit.num_qubits, caps, "assignment")
    return partition_weights(interaction_weights(circuit), caps)


def partition_weights(w: np.ndarray, capacities: Sequence[int]) -> list[int]:
    """:func:`partition_qubits` of a circuit whose :func:`interaction_weights` are ``w`` (circuits of equal
    weights get equal placements: a caller may keep them by ``w``).

    Args:
        w: the ``(n, n)`` interaction weights.
        capacities: qubits each QPU can hold, as for :func:`partition_qubits`.

    Examples:
        >>> partition_weights(np.array([[0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0]]), [2, 2])
        [0, 1, 0, 1]
    """
    caps = _check_capacities(capacities, w.shape[0])
    blocks = np.asarray(contiguous_blocks(w.shape[0], caps), dtype=np.int64)
    if len(caps) == 1 or not w.any():
        return [int(o) for o in blocks]
    cap = np.asarray(caps, dtype=np.int64)
    by_size = np.argsort(-cap, kind="stable")  # ties keep QPU order
    starts = [_greedy_growth(w, caps, by_size), _greedy_growth(w, caps, range(len(caps))), blocks]
    del by_size
    best, best_cut = None, None
    for start in starts:
        refined = _refine(w, start, cap)
        cut = _edge_cut(w, refined)
        if best_cut is None or cut < best_cut:
            best, best_cut = refined, cut
    return [int(o) for o in best]


def nonlocal_gates(circuit: Circuit, owner: Sequence[int]) -> list[int]:
    """Indices into ``circuit.instructions`` of the gates spanning more than one QPU.

    Args:
        circuit: the circuit.
        owner: ``owner[q]`` = QPU of qubit q, one entry per qubit.

    Returns:
        The indices, in increasing order (barriers are not gates and never count).

    Raises:
        CircuitError: ``owner`` does not have ``num_qubits`` entries.

    Examples:
        >>> c = Circuit(3).gate("h", 0).gate("cx", 0, 1).gate("ccx", 0, 1, 2)
        >>> nonlocal_gates(c, [0, 0, 1])
        [2]
    """
    owner = _check_owner(owner, circuit.num_qubits, None, "owner")
    return [i for i, ins in enumerate(circuit.instructions)
            if isinstance(ins, Gate) and len({owner[q] for q in ins.qubits}) > 1]


def cut_size(circuit: Circuit, owner: Sequence[int]) -> int:
    """Number of gates spanning more than one QPU (see :func:`nonlocal_gates`).

    Args:
        circuit: the circuit.
        owner: ``owner[q]`` = QPU of qubit q, one entry per qubit.

    Returns:
        ``len(nonlocal_gates(circuit, owner))``.

    Examples:
        >>> cut_size(Circuit(2).gate("cx", 0, 1), [0, 1])
        1
    """
    return len(nonlocal_gates(circuit, owner))
