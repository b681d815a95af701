"""Where each logical qubit lives: the logical→physical permutation.

With ``n`` qubits on ``P = 2^g`` ranks, physical bits ``0..L-1`` (``L = n-g``)
index amplitudes inside a shard and physical bits ``L..n-1`` are the bits of
the rank number. Which logical qubit sits on which physical bit changes when
the engine swaps a rank bit with a local bit (and never swaps back); the
choice of local bit looks ahead over the pending operations (Belady's rule:
evict the bit whose next use is furthest). Pure functions, testable without
MPI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from dqsim.state.gates import GateOp


@dataclass
class Layout:
    """The permutation between logical qubits and physical bits.

    Attributes:
        num_qubits: ``n``.
        num_local: ``L``, the bits inside a shard.
        physical_of: ``physical_of[q]`` is the physical bit of logical qubit ``q``.

    Examples:
        >>> lay = Layout(4, 3)
        >>> lay.is_local(3), lay.rank_bit_of(3)
        (False, 0)
        >>> lay.swap_physical(0, 3); lay.physical_of
        [3, 1, 2, 0]
    """

    num_qubits: int
    num_local: int
    physical_of: list[int] = field(default_factory=list)

    def __post_init__(self):
        if not self.physical_of:
            self.physical_of = list(range(self.num_qubits))
        if sorted(self.physical_of) != list(range(self.num_qubits)):
            raise ValueError(f"physical_of {self.physical_of} is not a permutation of 0..{self.num_qubits - 1}")

    @property
    def logical_at(self) -> list[int]:
        """``logical_at[p]`` is the logical qubit on physical bit ``p``."""
        inverse = [0] * self.num_qubits
        for q, p in enumerate(self.physical_of):
            inverse[p] = q
        return inverse

    def is_local(self, qubit: int) -> bool:
        return self.physical_of[qubit] < self.num_local

    def rank_bit_of(self, qubit: int) -> int:
        """Index ``j`` of the rank bit holding ``qubit`` (rank bit j = bit j of the rank)."""
        return self.physical_of[qubit] - self.num_local

    def swap_physical(self, p1: int, p2: int) -> None:
        """Exchange the logical qubits on physical bits ``p1`` and ``p2``."""
        logical = self.logical_at
        q1, q2 = logical[p1], logical[p2]
        self.physical_of[q1], self.physical_of[q2] = p2, p1

    def is_identity(self) -> bool:
        return self.physical_of == list(range(self.num_qubits))


@dataclass(frozen=True)
class BitSwaps:
    """An exchange round planned ahead of time: swap these physical bit pairs.

    Gate fusion (:mod:`dqsim.circuit.fusion`) predicts the layout the engine
    will have and places the exchanges itself, so its fused blocks find their
    qubits local. :meth:`dqsim.state.sharded.ShardedState.apply_ops` performs
    one round per ``BitSwaps``. It needs no qubit local, like a diagonal gate.

    Attributes:
        pairs: ``(rank_physical_bit, local_physical_bit)`` pairs, as
            returned by :func:`plan_swaps`.
    """

    pairs: tuple[tuple[int, int], ...]
    name = "exchange"
    diagonal = True
    targets: tuple[int, ...] = ()
    controls: tuple[int, ...] = ()

    @property
    def qubits(self) -> tuple[int, ...]:
        return ()


def needs_locality(op: GateOp) -> tuple[int, ...]:
    """Logical qubits of ``op`` that must sit on local bits (non-diagonal targets)."""
    return () if op.diagonal else op.targets


def next_use(qubit: int, ops: Sequence[GateOp], start: int) -> float:
    """Index of the first op at or after ``start`` that needs ``qubit`` local (inf if none)."""
    for i in range(start, len(ops)):
        if qubit in needs_locality(ops[i]):
            return i
    return math.inf


def plan_swaps(layout: Layout, ops: Sequence[GateOp], index: int, *, lookahead: int = 64,
               max_batch: int | None = None) -> list[tuple[int, int]]:
    """Choose (rank bit, local bit) physical pairs to swap before ``ops[index]``.

    The rank-resident qubits that ``ops[index]`` needs local are always in
    the batch; rank-resident qubits needed by the following ops (up to
    ``lookahead``) join the same exchange while enough local bits remain
    that no op in the batch's horizon needs. The local bits given up are
    those whose next use is furthest in the future.

    Returns:
        Pairs ``(rank_physical_bit, local_physical_bit)``; empty if none needed.
    """
    num_rank_bits = layout.num_qubits - layout.num_local
    if num_rank_bits == 0:
        return []
    if max_batch is None:
        max_batch = num_rank_bits
    wanted: list[int] = []
    busy: set[int] = set()  # logical qubits that must stay local within the horizon
    stop = min(len(ops), index + 1 + lookahead)
    for i in range(index, stop):
        op = ops[i]
        need = [q for q in needs_locality(op) if not layout.is_local(q) and q not in wanted]
        if i > index and len(wanted) + len(need) > max_batch:
            break
        local_needed = {q for q in needs_locality(op) if layout.is_local(q)}
        free = [
            p for p in range(layout.num_local)
            if layout.logical_at[p] not in busy | local_needed
        ]
        if len(free) < len(wanted) + len(need):
            if i == index:
                raise ValueError(
                    f"gate {op.name} needs {len(need)} local qubits but only {len(free)} are free; "
                    "use fewer ranks for this many qubits"
                )
            break
        wanted.extend(need)
        busy |= set(needs_locality(op))
    if not wanted:
        return []
    logical = layout.logical_at
    candidates = [p for p in range(layout.num_local) if logical[p] not in busy]
    # Furthest next use first (Belady); among ties the highest bit, whose slices are the
    # least strided, so the exchange copies long contiguous runs.
    candidates.sort(key=lambda p: (-next_use(logical[p], ops, index), -p))
    return [(layout.physical_of[q], candidates[i]) for i, q in enumerate(wanted)]
