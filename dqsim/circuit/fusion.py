"""Gate fusion: consecutive gates merged into few-qubit blocks, one pass over the state each.

A state-vector engine spends its time reading and writing the state; a gate
on 1 or 2 qubits does little arithmetic per amplitude. Merging neighbouring
gates into one dense block on up to ``k`` qubits (and runs of diagonal gates
into one diagonal) replaces several passes by one, as qsim, qiskit-aer and
cuStateVec do (Häner & Steiger, "0.5 petabyte simulation of a 45-qubit
quantum circuit", SC17, sec. 3.2; Aer's ``fusion_max_qubit``).

The fuser here is greedy. Every qubit belongs to at most one *open* block;
open blocks act on disjoint qubits, so they commute and may be emitted in
any order. A gate whose qubits meet open blocks either joins them (their
union becomes one block) when that is cheaper by :class:`FusionCosts`, or
those blocks are emitted and the gate opens a new one. The result is exact:
the product of the emitted operations equals the product of the gates.

What fusion respects:

* **Rank bits.** A dense block acts on every one of its qubits, so it may
  hold only qubits that sit on local bits. The fuser replays the engine's
  swap planning (:func:`dqsim.state.layout.plan_swaps`, on the unfused gates,
  from the state's current layout) and places each exchange round in the
  output as a :class:`dqsim.state.layout.BitSwaps`, so the engine's layout
  follows the prediction exactly and no fused block pays an exchange the
  unfused circuit would not. Diagonal gates, and controls on rank bits, stay
  free: a gate that touches a rank-bit qubit is never made dense; diagonal
  blocks may hold rank-bit qubits (the engine resolves them per rank).
* **Measurements, resets, barriers, noise.** :func:`fuse_ops` fuses one list
  of unitary operations, from the state's layout at that moment; callers
  cut the program at every measurement, reset, barrier or noise channel and
  fuse each run of gates just before applying it (as the ``circuit``
  scenario does).
* **SWAP gates** without controls stay as they are: the engine relabels
  qubits for them, which costs nothing.

Examples:
    >>> from dqsim.state.gates import gate_op
    >>> from dqsim.state.layout import Layout
    >>> ops = [gate_op("h", [0]), gate_op("h", [1]), gate_op("cx", [0, 1]), gate_op("rz", [1], [0.3])]
    >>> [(op.name, op.targets) for op in fuse_ops(ops, layout=Layout(2, 2))]
    [('fused', (0, 1))]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from dqsim.caches import kept
from dqsim.state import kernels
from dqsim.state.gates import GateOp
from dqsim.state.layout import BitSwaps, Layout, plan_swaps

#: Name of the operations fusion makes.
FUSED_NAME = "fused"


@dataclass(frozen=True)
class FusionCosts:
    """Time of one kernel pass over the shard, in units of one copy of the shard.

    Attributes:
        dense: ``dense[k-1]`` is the cost of a dense pass on ``k`` target
            qubits; its length is the largest block fusion makes (``k`` max).
        diagonal: cost of a one-pass diagonal on any number of qubits.
        max_diagonal_qubits: most qubits of a fused diagonal (its table has
            ``2^m`` entries).
        measured: where the numbers come from.
        dense_high: ``dense_high[k-1]`` is the cost of a dense pass on ``k``
            targets that all lie on physical bits ``>= high_bit`` (kernels
            that take only those); empty: as ``dense``.
        high_bit: the lowest physical bit of the targets ``dense_high`` is for.
    """

    dense: tuple[float, ...]
    diagonal: float
    max_diagonal_qubits: int = 12
    measured: str = ""
    dense_high: tuple[float, ...] = ()
    high_bit: int = 0

    def __post_init__(self):
        if not self.dense or any(c <= 0 for c in self.dense):
            raise ValueError(f"dense costs must be a non-empty list of positive numbers, got {self.dense}")
        if self.dense_high and (len(self.dense_high) != len(self.dense) or any(c <= 0 for c in self.dense_high)):
            raise ValueError(f"dense_high must be empty or {len(self.dense)} positive numbers (one per k of dense), "
                             f"got {self.dense_high}")
        if self.diagonal <= 0 or self.max_diagonal_qubits < 1:
            raise ValueError("diagonal cost must be > 0 and max_diagonal_qubits >= 1")

    @property
    def max_qubits(self) -> int:
        """The largest dense block, ``k``."""
        return len(self.dense)

    def block_cost(self, physical_bits) -> float:
        """Cost of an uncontrolled dense pass on targets at ``physical_bits`` (at most ``max_qubits``).

        Examples:
            >>> costs = FusionCosts(dense=(1.0, 1.0, 1.5, 3.6), diagonal=2.0,
            ...                     dense_high=(1.0, 1.0, 1.5, 2.0), high_bit=3)
            >>> costs.block_cost([3, 7, 9, 12]), costs.block_cost([2, 7, 9, 12])
            (2.0, 3.6)
        """
        table = self.dense_high if self.dense_high and min(physical_bits) >= self.high_bit else self.dense
        return table[len(physical_bits) - 1]

    def op_cost(self, op: GateOp) -> float:
        """Cost of ``op`` applied alone.

        Controls halve the memory touched, and a diagonal touches only the
        amplitudes whose entry is not 1 (the generic kernel skips the rest);
        neither goes below a quarter of a pass.
        """
        if op.diagonal:
            entries = np.asarray(op.matrix)
            touched = np.count_nonzero(entries != 1) / max(1, entries.size)
            return self.diagonal * max(0.25, touched * 0.5 ** len(op.controls))
        base = self.dense[min(len(op.targets), self.max_qubits) - 1]
        return base * max(0.25, 0.5 ** len(op.controls))


#: numba kernels (dqsim.backend.fast) on the 2-core dev VM, n = 26, 2026-12-04
#: (bench/results/kernel_bench-vm-k2-*): a 1- or 2-qubit dense gate on middle and top bits
#: sweeps the shard once in runs (0.83-1.01 of a copy's bandwidth over 3 runs on 1 rank and
#: one on 2 ranks, complex128; 0.6-0.8 on the lowest bits), so it costs 1.1-1.15 copies. Blocks
#: of k = 3..5 qubits still go through the tiles: 3.0-3.3, 5.0-5.3 and 7.1-8.3 copies (2 ranks,
#: other jobs loading the machine to 10-13; unchanged since), a fused diagonal about 2. Blocks of
#: k >= 4 are compute-bound there (2^k complex multiply-adds per amplitude on one core). With
#: the earlier 1- and 2-qubit costs (2.2, 2.3: the tiles) the greedy merged pairs of 2-qubit
#: gates into 3-5 qubit blocks; a layered random circuit (n = 24, 1 rank, 6 layers of 1- and
#: 2-qubit gates) ran 1.25x faster with this table (2.32 s against 2.94 s, complex128).
#: Since 2026-12-05 an uncontrolled k = 3 block runs in register blocks on any local bits
#: (fast._numba_dense8_low, fast._numba_segments3): bench/kernel_bench.py on the 2-core VM (AMD
#: EPYC, 2 ranks, n = 26, complex128, load 3.8-5.3, four runs 04:12-04:37 UTC,
#: bench/results/kernel_bench-vm-k3any-20261205.md) measured 0.57-1.09 of a copy (low 0.81-1.04,
#: middle 0.70-1.05, mixed low/high 0.63-1.09, top 0.57-0.69), about 0.8: 1.35 copies. k = 4 stays
#: on the tiles, 0.19-0.35 of a copy in the same runs (median 0.27): 3.6 copies. k = 5 is not
#: re-measured.
#: Since 2026-12-05 (later) uncontrolled k = 4 and 5 blocks run in planar register blocks
#: (fast._numba_planar4/5; bench/results/kernel_bench-vm-k4-20261205.md: one process, n = 26,
#: CPU time against a copy, four runs, load 3.3-10.5, complex128). k = 4 with every target on a
#: bit >= 3: 0.32-0.68 of a copy (median ~0.5; the top bits 0.32-0.39): 2.0 copies
#: (``dense_high``); with a target on bits 0-2: one such target 0.37-0.60, two 0.33-0.35, three
#: (the tiles) 0.22-0.27, mostly one in random placements: 2.2 copies. k = 5 with every target >= 3:
#: 0.21-0.30 (median 0.23): 4.3 copies; with a low target the tiles (0.13-0.19) in complex128:
#: 7.5 as before. The arithmetic caps k = 4 at ~0.7 of a quiet copy on this core (6 packed FMAs
#: per amplitude), k = 5 at ~0.35.
CPU_COSTS = FusionCosts(dense=(1.1, 1.15, 1.35, 2.2, 7.5), diagonal=2.0, dense_high=(1.1, 1.15, 1.35, 2.0, 4.3),
                        high_bit=3,
                        measured="numba runs (k <= 2), register blocks (k = 3), planar blocks (k = 4, 5; k = 5 with "
                                 "a target on bits 0-2: tiles), 2-core dev VM (shared), n=26, complex128, 2026-12-04/05")
#: CuPy kernels on one NVIDIA H200, n = 30, complex128, 2026-12-04 (bench/results/gpu-h200-20261204):
#: the one-thread-per-group ElementwiseKernels took 1.03-1.43, 1.03-1.56, 1.11-2.13, 1.35-2.56 and
#: 2.9-7.7 copies of the state for k = 1..5 (middle/top bits - lowest bits, reads strided there).
#: Since 2026-12-05 DQSIM_CUDA_DENSE=auto takes, per gate, the kernel fast.cuda_route names: the
#: warp-shuffle lane kernel for 2-4 targets all below bit 5, the constant-matrix group kernel for
#: small matrices, else the ElementwiseKernel. Their passes on one NVIDIA H100 (n = 30, complex128,
#: bench/results/gpu-h100-20261205, run 1, each kernel measured under its own variant): k = 1..5
#: with a target below bit 5 0.98, 0.90, 0.91, 0.80-0.85, 0.17-0.40 of a copy (lowest bits;
#: mixed placements 0.92-0.98 for k = 3, 0.80 for k = 4); every target >= 5: 0.98, 0.97-0.98,
#: 0.97-0.98, 0.93-0.95, 0.39-0.45. A fused diagonal: 0.98. Run 2: 5-qubit blocks in the group
#: kernel with the matrix in global memory, 0.35 (lowest bits) and 0.55-0.58 (complex128).
GPU_COSTS = FusionCosts(dense=(1.02, 1.1, 1.1, 1.2, 2.9), diagonal=1.02, dense_high=(1.02, 1.03, 1.03, 1.07, 1.8),
                        high_bit=5,
                        measured="CuPy kernels as DQSIM_CUDA_DENSE=auto routes them (lane, group, "
                                 "ElementwiseKernel), NVIDIA H100, n=30, complex128, 2026-12-05")


def costs_for(backend) -> FusionCosts:
    """The cost table of a :class:`dqsim.backend.Backend` (GPU or CPU)."""
    return GPU_COSTS if backend is not None and backend.is_gpu else CPU_COSTS


@dataclass
class _Block:
    """Gates gathered so far into one pending operation."""

    ops: list[GateOp]
    qubits: list[int]
    dense: bool
    cost: float  # cost of emitting this block as it stands
    order: int = 0


def fuse_ops(ops: Sequence[GateOp], *, layout: Layout, costs: FusionCosts = CPU_COSTS,
             lookahead: int = 64) -> list:
    """Fuse a list of unitary operations into fewer, larger ones (exact).

    Args:
        ops: unitary operations in program order (no measurement inside).
        layout: the state's layout when ``ops`` start (copied, not changed).
        costs: the kernel costs that decide each merge; ``costs.max_qubits``
            bounds a dense block.
        lookahead: the swap planner's look-ahead, as in
            :meth:`dqsim.state.sharded.ShardedState.apply_ops`.

    Returns:
        Operations for :meth:`~dqsim.state.sharded.ShardedState.apply_ops`:
        :class:`GateOp` s (fused ones named ``"fused"``, unchanged ones as
        given) and :class:`~dqsim.state.layout.BitSwaps` exchange rounds.
    """
    lay = Layout(layout.num_qubits, layout.num_local, list(layout.physical_of))
    out: list = []
    block_of: dict[int, _Block] = {}
    order = itertools.count(1)

    def emit(block: _Block) -> None:
        for q in block.qubits:
            del block_of[q]
        out.extend(_block_ops(block, costs))

    def emit_touching(qubits) -> None:
        for block in _open_blocks(block_of, qubits):
            emit(block)

    def open_block(block: _Block) -> None:
        block.order = next(order)
        for q in block.qubits:
            block_of[q] = block

    for index, op in enumerate(ops):
        if op.name == "swap" and not op.controls:
            emit_touching(op.targets)
            out.append(op)
            lay.swap_physical(lay.physical_of[op.targets[0]], lay.physical_of[op.targets[1]])
            continue
        if not op.diagonal and any(not lay.is_local(q) for q in op.targets):
            pairs = plan_swaps(lay, ops, index, lookahead=lookahead)
            moved = [lay.logical_at[p] for pair in pairs for p in pair]
            emit_touching(moved)
            out.append(BitSwaps(tuple(pairs)))
            for rank_bit, local_bit in pairs:
                lay.swap_physical(rank_bit, local_bit)
        qubits = list(op.qubits)
        touching = _open_blocks(block_of, qubits)
        if op.diagonal and not touching:
            # Open blocks commute: a diagonal on fresh qubits joins the newest open diagonal.
            diagonals = [b for b in block_of.values() if not b.dense
                         and len(b.qubits) + len(qubits) <= costs.max_diagonal_qubits]
            touching = [max(diagonals, key=lambda b: b.order)] if diagonals else []
        union = list(dict.fromkeys([q for b in touching for q in b.qubits] + qubits))
        current = sum(b.cost for b in touching) + costs.op_cost(op)
        merged = None
        if op.diagonal and all(not b.dense for b in touching) and len(union) <= costs.max_diagonal_qubits:
            merged = _Block([m for b in touching for m in b.ops] + [op], union, False,
                            costs.diagonal if touching else costs.op_cost(op))
        elif touching and len(union) <= costs.max_qubits and all(lay.is_local(q) for q in union) \
                and (dense_cost := costs.block_cost([lay.physical_of[q] for q in union])) <= current:
            merged = _Block([m for b in touching for m in b.ops] + [op], union, True, dense_cost)
        if merged is not None:
            for b in touching:
                for q in b.qubits:
                    del block_of[q]
            open_block(merged)
            continue
        for b in touching:
            emit(b)
        if op.diagonal or all(lay.is_local(q) for q in qubits):
            open_block(_Block([op], qubits, not op.diagonal, costs.op_cost(op)))
        else:
            out.append(op)  # a control on a rank bit: applied as it is
    for block in _open_blocks(block_of, list(block_of)):
        out.extend(_block_ops(block, costs))
    return out


def _open_blocks(block_of: dict, qubits) -> list[_Block]:
    """The distinct open blocks holding any of ``qubits``, oldest first."""
    found = {id(b): b for q in qubits if (b := block_of.get(q)) is not None}
    return sorted(found.values(), key=lambda b: b.order)


def _block_ops(block: _Block, costs: FusionCosts) -> list[GateOp]:
    """What to emit for a block: its one fused operation, or its gates where those cost less.

    A diagonal run of a few sparse diagonals (``cp``, ``cz``: a quarter pass
    each) is cheaper gate by gate than as one full pass.
    """
    if not block.dense and sum(costs.op_cost(op) for op in block.ops) <= costs.diagonal:
        return list(block.ops)
    return [_block_op(block)]


#: Fused operations kept by :func:`_block_op`, the most recently made (a run of many small registers fuses the
#: same few blocks again and again: a ``cloud`` run's user jobs, a job's trajectories, their fidelity checks).
BLOCK_CACHE_SIZE = 512
_BLOCKS: dict[tuple, GateOp] = {}


def _block_key(block: _Block) -> tuple:
    """What :func:`_block_product` makes a block's operation from: whether it is dense, its qubits, and each
    gate's targets, controls, whether it is diagonal and its matrix (dtype, shape, bytes)."""
    return (block.dense, tuple(block.qubits),
            tuple((op.targets, op.controls, op.diagonal, op.matrix.dtype.str, op.matrix.shape, op.matrix.tobytes())
                  for op in block.ops))


def _block_op(block: _Block) -> GateOp:
    """The one operation equal to the product of ``block.ops`` (the op itself for one gate).

    Made once per distinct block (:func:`_block_key`: the same inputs make the same operation, bit for bit) and
    kept for the last :data:`BLOCK_CACHE_SIZE`: a hit costs the key (about 1 µs a gate), a product tens of µs.
    The operations returned are shared: nothing changes a :class:`GateOp`'s matrix in place.
    """
    if len(block.ops) == 1:
        return block.ops[0]
    return kept(_BLOCKS, _block_key(block), lambda: _block_product(block), BLOCK_CACHE_SIZE)


def _block_product(block: _Block) -> GateOp:
    """The product of ``block.ops`` (two or more) as one operation on ``block.qubits``."""
    qubits = block.qubits
    k = len(qubits)
    position = {q: j for j, q in enumerate(qubits)}
    if not block.dense:
        index = np.arange(1 << k)
        diagonal = np.ones(1 << k, dtype=np.complex128)
        for op in block.ops:
            entry = np.zeros(1 << k, dtype=np.int64)
            for j, q in enumerate(op.targets):
                entry |= ((index >> position[q]) & 1) << j
            active = np.ones(1 << k, dtype=bool)
            for q in op.controls:
                active &= ((index >> position[q]) & 1).astype(bool)
            diagonal *= np.where(active, op.matrix[entry], 1)
        return GateOp(diagonal, tuple(qubits), (), True, FUSED_NAME)
    # Columns of the block's matrix, evolved as states: flat index = column·2^k + row.
    columns = np.eye(1 << k, dtype=np.complex128).reshape(-1)
    for op in block.ops:
        targets = [position[q] for q in op.targets]
        controls = [position[q] for q in op.controls]
        if op.diagonal:
            kernels.apply_diagonal(np, columns, 2 * k, op.matrix, targets, controls)
        else:
            kernels.apply_dense(np, columns, 2 * k, op.matrix, targets, controls)
    matrix = columns.reshape(1 << k, 1 << k).T.copy()
    if not np.any(matrix - np.diag(np.diag(matrix))):
        return GateOp(np.diag(matrix).copy(), tuple(qubits), (), True, FUSED_NAME)
    return GateOp(matrix, tuple(qubits), (), False, FUSED_NAME)
