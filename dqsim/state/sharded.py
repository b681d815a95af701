"""The state vector sharded over ranks.

``n`` qubits on ``P = 2^g`` ranks: each rank holds ``2^(n-g)`` contiguous
amplitudes of the physical vector. Gates on local bits need no
communication; diagonal gates and controls on rank bits need none either
(the rank knows its own bit values). A non-diagonal gate on a rank bit first
swaps that bit with a local bit chosen by :func:`dqsim.state.layout.plan_swaps`
(one exchange round, several bits batched) and never swaps back.

Every random draw comes from a :class:`dqsim.rng.Stream`; see :mod:`dqsim.rng`
for what a seed reproduces. Reductions are accumulated in float64 and summed
over ranks, so results agree across rank counts up to rounding.
"""

from __future__ import annotations

import functools
import math
from typing import Iterable, Iterator, Sequence

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.backend import fast as backend_fast
from dqsim.errors import DqsimError, RankCountError, ResourceError
from dqsim.rng import Stream
from dqsim.state import exchange, kernels
from dqsim.state.gates import H, GateOp, gate_op, unitary_op
from dqsim.state.layout import BitSwaps, Layout, plan_swaps
from dqsim.units import BYTES_PER_GIB, BYTES_PER_MIB

#: Default largest piece of an exchange message, bytes.
DEFAULT_EXCHANGE_CHUNK_BYTES = 256 * BYTES_PER_MIB
#: Default largest piece a kernel works on at once, bytes.
DEFAULT_KERNEL_CHUNK_BYTES = 64 * BYTES_PER_MIB
#: Default largest state gathered onto one rank, qubits.
DEFAULT_MAX_GATHER_QUBITS = 26
#: Fraction of free memory a new state may take.
MEMORY_HEADROOM = 0.9
#: A state whose shard and workspace need at most this many bytes per rank is not checked against the free
#: memory (reading it costs a file read, ~0.05 ms on the CPU, about what a dynamic DQC shot's whole register
#: work costs; a process that runs at all has a MiB to spare).
MEMORY_CHECK_MIN_BYTES = BYTES_PER_MIB
#: Largest register a scenario keeps whole on every rank (a single-process state, no collectives)
#: instead of sharding it, qubits. Up to 2^12 amplitudes (64 KiB in complex128) one gate costs about
#: what a collective does (tens of µs, mostly Python), so sharding saves nothing and its exchanges and
#: reductions are pure overhead; a replicated register also gives bit-identical results on any rank
#: count. An exception to DESIGN.md invariant 1 for tiny registers (docs/architecture.md). The
#: crossover was not measured cleanly (a loaded 2-core VM); 12 keeps well below it.
REPLICATED_MAX_QUBITS = 12

PauliTerm = tuple[float, str, tuple[int, ...]]


def nearest_powers_of_two(num_ranks: int) -> tuple[int, int]:
    """The powers of two just below and just above ``num_ranks``.

    Examples:
        >>> nearest_powers_of_two(6)
        (4, 8)
    """
    below = 1 << (num_ranks.bit_length() - 1)
    return below, below * 2


def estimate_memory_bytes(num_qubits: int, num_ranks: int, precision: str = "complex128", *,
                          exchange_chunk_bytes: int = DEFAULT_EXCHANGE_CHUNK_BYTES,
                          kernel_chunk_bytes: int = DEFAULT_KERNEL_CHUNK_BYTES) -> dict[str, int]:
    """Bytes one rank needs: its shard plus exchange and kernel workspace.

    Returns:
        ``{"shard": ..., "workspace": ..., "total": ...}``.

    Examples:
        >>> estimate_memory_bytes(20, 4)["shard"]
        4194304
    """
    itemsize = np.dtype(precision).itemsize
    shard = (1 << num_qubits) // num_ranks * itemsize
    exchange_ws = 0 if num_ranks == 1 else 2 * min(exchange_chunk_bytes, shard)
    kernel_ws = 3 * min(kernel_chunk_bytes, shard)
    return {"shard": shard, "workspace": exchange_ws + kernel_ws,
            "total": shard + exchange_ws + kernel_ws}


class ShardedState:
    """An ``n``-qubit state vector split over the ranks of a communicator.

    Args:
        num_qubits: ``n``, at least ``log2(P)``.
        comm: communicator from :func:`dqsim.comm.init`; ``None`` means a
            single process.
        precision: ``"complex128"`` or ``"complex64"``.
        backend: from :func:`dqsim.backend.select`; ``None`` means NumPy.
        seed: seed of the default random streams (see :mod:`dqsim.rng`).
        exchange_chunk_bytes: largest message between ranks (< 2 GiB).
        kernel_chunk_bytes: largest piece a kernel works on at once.
        max_gather_qubits: largest state :meth:`gather` may collect.

    Raises:
        ResourceError: ``P`` is not a power of two (a :class:`~dqsim.errors.RankCountError`),
            too few qubits for the ranks, or the shard does not fit the free memory.

    Examples:
        >>> s = ShardedState(2, seed=1)
        >>> s.apply_gate("h", [0]); s.apply_gate("cx", [0, 1])
        >>> np.round(s.gather(), 6)
        array([0.707107+0.j, 0.      +0.j, 0.      +0.j, 0.707107+0.j])
    """

    def __init__(self, num_qubits: int, comm=None, *, precision: str = "complex128", backend=None,
                 seed: int = 0, exchange_chunk_bytes: int = DEFAULT_EXCHANGE_CHUNK_BYTES,
                 kernel_chunk_bytes: int = DEFAULT_KERNEL_CHUNK_BYTES,
                 max_gather_qubits: int = DEFAULT_MAX_GATHER_QUBITS, allocate: bool = True):
        self.comm = comm if comm is not None else comm_mod.SingleComm()
        self.backend = backend if backend is not None else backend_mod.select("numpy")
        self.xp = self.backend.xp
        backend_mod.real_dtype(precision)
        self.precision = precision
        self.dtype = np.dtype(precision)
        num_ranks = self.comm.size
        if num_ranks & (num_ranks - 1):
            below, above = nearest_powers_of_two(num_ranks)
            raise RankCountError(
                f"the state vector needs a power-of-two number of ranks, got {num_ranks}; "
                f"use {below} or {above}", num_ranks=num_ranks, below=below, above=above
            )
        num_rank_bits = num_ranks.bit_length() - 1
        if not isinstance(num_qubits, (int, np.integer)) or num_qubits < max(1, num_rank_bits):
            raise ResourceError(
                f"num_qubits = {num_qubits} is too small for {num_ranks} ranks: need >= {max(1, num_rank_bits)}"
            )
        if not 0 < exchange_chunk_bytes < comm_mod.MAX_MESSAGE_BYTES:
            raise ValueError(
                f"exchange_chunk_bytes = {exchange_chunk_bytes} must be in 1..{comm_mod.MAX_MESSAGE_BYTES - 1}"
            )
        self.num_qubits = int(num_qubits)
        self.num_ranks = num_ranks
        self.num_local_qubits = self.num_qubits - num_rank_bits
        self.exchange_chunk_bytes = int(exchange_chunk_bytes)
        self.kernel_chunk_elems = max(1, int(kernel_chunk_bytes) // self.dtype.itemsize)
        self.max_gather_qubits = int(max_gather_qubits)
        self.layout = Layout(self.num_qubits, self.num_local_qubits)
        self.seed = int(seed)
        self.streams: dict[str, Stream] = {}
        self.bytes_exchanged = 0
        self.num_exchanges = 0
        self.amplitudes = None
        self._shared = None
        if allocate:
            self._check_memory(kernel_chunk_bytes)
            self.amplitudes = self._zeros(1 << self.num_local_qubits)
            if self.comm.rank == 0:
                self.amplitudes[0] = 1

    # ----------------------------------------------------------------- basics
    def __repr__(self) -> str:
        return (f"ShardedState({self.num_qubits}, precision={self.precision!r}, "
                f"ranks={self.num_ranks}, backend={self.backend.name!r})")

    @property
    def global_shape(self) -> tuple[int]:
        return (1 << self.num_qubits,)

    @property
    def local_shape(self) -> tuple[int]:
        return (1 << self.num_local_qubits,)

    @property
    def rank(self) -> int:
        return self.comm.rank

    def _check_memory(self, kernel_chunk_bytes: int) -> None:
        need = estimate_memory_bytes(self.num_qubits, self.num_ranks, self.precision,
                                     exchange_chunk_bytes=self.exchange_chunk_bytes,
                                     kernel_chunk_bytes=kernel_chunk_bytes)
        if need["total"] <= MEMORY_CHECK_MIN_BYTES:  # the same on every rank: all skip the collective
            return
        free = self.backend.free_memory_bytes()
        if not self.backend.is_gpu:
            free //= max(1, self.comm.node_local_size)
        fits = need["total"] <= MEMORY_HEADROOM * free
        if not self.comm.allreduce_min(int(fits)):
            raise ResourceError(
                f"{self.num_qubits} qubits in {self.precision} on {self.num_ranks} rank(s) need "
                f"{need['total'] / BYTES_PER_GIB:.2f} GiB per rank (shard {need['shard'] / BYTES_PER_GIB:.2f} GiB "
                f"+ workspace), but some rank has only {free / BYTES_PER_GIB:.2f} GiB free; "
                "use more ranks, complex64, or fewer qubits"
            )

    def _zeros(self, num_elems: int):
        """A zeroed shard of ``num_elems`` amplitudes, which becomes the state's (collective on the CPU).

        On the CPU, when every rank runs on one node, it lies in an MPI-3
        shared-memory window (:meth:`dqsim.comm.MPIComm.node_shared_array`),
        so rank-bit exchanges swap amplitudes in place between the shards;
        otherwise (GPU, several nodes, ``DQSIM_SHARED_EXCHANGE=0`` or
        ``slots``, ``/dev/shm`` too small) an ordinary array
        (:meth:`dqsim.backend.Backend.zeros`: on the CPU on a cache-line
        boundary), exchanged by messages or through slots; also without numba, which the in-place swap
        needs. Sets ``self._shared`` to the window or
        ``None``, so a path that replaces ``amplitudes`` keeps the two in step.
        """
        # Without numba there is no in-place swap: a window would only cost huge pages.
        in_place = not self.backend.is_gpu and backend_fast.has_cross_swap()
        shared = self.comm.node_shared_array(num_elems, self.dtype) if in_place else None
        if shared is None:
            self._shared = None
            return self.backend.zeros(num_elems, self.dtype)
        array = shared.array(self.comm.rank)
        array.fill(0)
        self._shared = shared
        return array

    @property
    def exchange_path(self) -> str:
        """How this state's rank-bit exchanges travel, in words for a run header (the same on every rank).

        ``"none (each rank holds the whole register)"``; ``"in place in a shared-memory window"`` (shards in
        one window, :meth:`_zeros`); ``"shared-memory slots"`` (with the reason
        when the window was allowed but ``/dev/shm`` had no room for the
        shards); ``"MPI messages"`` (GPU, several nodes, ``DQSIM_SHARED_EXCHANGE=0``).
        """
        if self.comm.size < 2:
            return "none (each rank holds the whole register)"
        if self._shared is not None:
            return "in place in a shared-memory window"
        allowed = self.comm.shared_exchange()
        if self.backend.is_gpu or allowed == "messages":
            return "MPI messages"
        if allowed == "window" and not backend_fast.has_cross_swap():
            return "shared-memory slots (numba, which the in-place swap needs, is not installed)"
        if allowed == "window":
            return "shared-memory slots (no room for the shards in /dev/shm)"
        return "shared-memory slots"

    def stream(self, purpose: str) -> Stream:
        """The state's default stream for ``purpose`` (node 0), created on first use."""
        if purpose not in self.streams:
            self.streams[purpose] = Stream(self.seed, node=0, purpose=purpose)
        return self.streams[purpose]

    def reseed_(self, seed: int) -> None:
        """Restart the default streams (:meth:`stream`) from ``seed``, as a new state of that seed would have them."""
        self.seed = int(seed)
        self.streams = {}

    def _check_qubits(self, qubits: Iterable[int], what: str = "qubit") -> tuple[int, ...]:
        out = tuple(int(q) for q in qubits)
        for q in out:
            if not 0 <= q < self.num_qubits:
                raise DqsimError(f"{what} index {q} is outside 0..{self.num_qubits - 1}")
        if len(set(out)) != len(out):
            raise DqsimError(f"repeated {what} in {out}")
        return out

    def _rank_bit_value(self, qubit: int) -> int:
        return (self.comm.rank >> self.layout.rank_bit_of(qubit)) & 1

    # ------------------------------------------------------------------ gates
    def apply_gate(self, name: str, qubits: Sequence[int], params: Sequence[float] = ()) -> None:
        """Apply a named gate (controls first in ``qubits``); see :mod:`dqsim.state.gates`."""
        self._check_qubits(qubits)
        self.apply(gate_op(name, qubits, params))

    def apply_matrix(self, matrix, targets: Sequence[int], controls: Sequence[int] = ()) -> None:
        """Apply a dense unitary (up to 5 targets, little-endian) with optional controls."""
        self._check_qubits(tuple(controls) + tuple(targets))
        self.apply(unitary_op(matrix, targets, controls, atol=100 * backend_mod.tolerance(self.precision)))

    def apply(self, op: GateOp) -> None:
        """Apply one :class:`GateOp` (collective)."""
        self.apply_ops([op])

    def apply_ops(self, ops: Sequence[GateOp], *, lookahead: int = 64, start: int = 0,
                  stop: int | None = None) -> None:
        """Apply a list of operations in order (collective).

        Swaps of rank bits are planned with a look-ahead over ``ops``.
        ``start``/``stop`` apply only ``ops[start:stop]``, still planning over
        all of ``ops``: a run applied in pieces (to look for a stop signal in
        between) gets the exchanges it gets in one call.
        """
        for index in range(start, len(ops) if stop is None else min(stop, len(ops))):
            op = ops[index]
            if isinstance(op, BitSwaps):
                self._swap_pairs(op.pairs)
                continue
            if op.name == "swap" and not op.controls:
                a, b = op.targets
                self.layout.swap_physical(self.layout.physical_of[a], self.layout.physical_of[b])
                continue
            if not op.diagonal and any(not self.layout.is_local(q) for q in op.targets):
                pairs = plan_swaps(self.layout, ops, index, lookahead=lookahead)
                self._swap_pairs(pairs)
            self._apply_local(op)

    def _swap_pairs(self, pairs: Sequence[tuple[int, int]]) -> None:
        if not pairs:
            return
        self.bytes_exchanged += exchange.swap_rank_bits(
            self.xp, self.backend, self.comm, self.amplitudes, self.num_local_qubits, pairs,
            self.exchange_chunk_bytes, shared=self._shared)
        self.num_exchanges += 1
        for rank_bit, local_bit in pairs:
            self.layout.swap_physical(rank_bit, local_bit)

    def _apply_local(self, op: GateOp, matrix=None) -> None:
        """Apply ``op`` whose non-diagonal targets are local; rank bits resolved here."""
        local_controls = []
        for q in op.controls:
            if self.layout.is_local(q):
                local_controls.append(self.layout.physical_of[q])
            elif not self._rank_bit_value(q):
                return  # a control on this rank's bit is 0: nothing to do here
        fast = self.backend.fast
        cmask = sum(1 << c for c in local_controls)
        if op.diagonal:
            diagonal = np.asarray(op.matrix if matrix is None else matrix)
            local_targets, keep = [], []
            fixed = 0
            for j, q in enumerate(op.targets):
                if self.layout.is_local(q):
                    local_targets.append(self.layout.physical_of[q])
                    keep.append(j)
                elif self._rank_bit_value(q):
                    fixed |= 1 << j
            if len(keep) < len(op.targets):
                sub = np.empty(1 << len(keep), dtype=diagonal.dtype)
                for i in range(sub.size):
                    full = fixed
                    for jj, j in enumerate(keep):
                        full |= ((i >> jj) & 1) << j
                    sub[i] = diagonal[full]
                diagonal = sub
            nontrivial = np.count_nonzero(diagonal != 1)
            if fast is not None and not cmask and local_targets and (nontrivial > 2 or 2 * nontrivial > diagonal.size):
                # Many entries != 1 (fused diagonals): one pass beats a strided pass per entry.
                fast.diagonal_pass(self.amplitudes, local_targets, diagonal)
                return
            if fast is not None and fast.use_for_diagonal:
                fast.diagonal(self.amplitudes, local_targets, diagonal, cmask)
                return
            kernels.apply_diagonal(self.xp, self.amplitudes, self.num_local_qubits, diagonal,
                                   local_targets, local_controls)
            return
        targets = [self.layout.physical_of[q] for q in op.targets]
        host_matrix = np.asarray(op.matrix if matrix is None else matrix)
        if fast is not None and len(targets) <= fast.max_dense_qubits:
            source = backend_fast.permutation_of(host_matrix)
            if source is not None:  # x, cx, ccx, controlled swaps: copies only
                fast.permute(self.amplitudes, targets, source, cmask)
                return
        if fast is not None and len(targets) == 1:
            fast.dense1(self.amplitudes, targets[0], host_matrix, cmask)
            return
        if fast is not None and len(targets) == 2:
            fast.dense2(self.amplitudes, targets[0], targets[1], host_matrix, cmask)
            return
        if fast is not None and len(targets) <= fast.max_dense_qubits:
            fast.dense(self.amplitudes, targets, host_matrix, cmask)
            return
        device_matrix = self.xp.asarray(host_matrix, dtype=self.dtype)
        kernels.apply_dense(self.xp, self.amplitudes, self.num_local_qubits, device_matrix, targets,
                            local_controls, self.kernel_chunk_elems)

    def apply_kraus_(self, operator, qubit: int, scale: float) -> None:
        """Apply a (non-unitary) 2×2 operator on ``qubit`` and multiply by ``scale`` (collective)."""
        op = GateOp(np.asarray(operator, dtype=np.complex128), (qubit,), (), False, "kraus")
        if np.count_nonzero(op.matrix - np.diag(np.diag(op.matrix))) == 0:
            op = GateOp(np.diag(op.matrix).copy(), (qubit,), (), True, "kraus")
        if not op.diagonal and not self.layout.is_local(qubit):
            self._swap_pairs(plan_swaps(self.layout, [op], 0))
        self._apply_local(op)
        self.amplitudes *= scale

    def localize(self, qubits: Sequence[int]) -> None:
        """Bring ``qubits`` onto local bits (one exchange round if needed; collective)."""
        qubits = self._check_qubits(qubits)
        remote = tuple(q for q in qubits if not self.layout.is_local(q))
        if remote:
            probe = GateOp(np.empty(0), qubits, (), False, "localize")
            self._swap_pairs(plan_swaps(self.layout, [probe], 0))

    # ------------------------------------------------------------ reductions
    def norm(self) -> float:
        """‖ψ‖ (collective)."""
        local = kernels.norm_squared(self.xp, self.amplitudes, self.kernel_chunk_elems)
        return math.sqrt(self.comm.allreduce_sum(local))

    def normalize_(self) -> None:
        """Scale to unit norm (collective)."""
        norm = self.norm()
        if norm == 0:
            raise DqsimError("cannot normalise the zero vector")
        self.amplitudes *= 1.0 / norm

    def probabilities(self, qubits: Sequence[int]) -> np.ndarray:
        """Marginal probabilities of ``qubits`` (collective).

        Returns:
            float64 array of ``2^m`` entries; bit j of the index is the value
            of ``qubits[j]`` (little-endian, as in qiskit).
        """
        qubits = self._check_qubits(qubits)
        m = len(qubits)
        if m > 24:
            raise DqsimError(f"marginal over {m} qubits is too large; ask for at most 24")
        local = [q for q in qubits if self.layout.is_local(q)]
        fast = self.backend.fast
        local_bits = [self.layout.physical_of[q] for q in local]
        if m == 1 and local and fast is not None:
            s0, s1 = fast.bit_weights(self.amplitudes, local_bits[0])
            return self.comm.allreduce_sum(np.array([s0, s1]))
        if local and hasattr(fast, "bits_weights") and len(local) <= backend_fast.measure_kernels.MAX_BITS:
            part = fast.bits_weights(self.amplitudes, local_bits)
        else:
            part = kernels.probabilities_of_bits(self.xp, self.amplitudes, self.num_local_qubits, local_bits,
                                                 self.kernel_chunk_elems)
        full = np.zeros(1 << m)
        fixed = 0
        for j, q in enumerate(qubits):
            if not self.layout.is_local(q) and self._rank_bit_value(q):
                fixed |= 1 << j
        positions = [qubits.index(q) for q in local]
        for i, value in enumerate(part):
            index = fixed
            for jj, j in enumerate(positions):
                index |= ((i >> jj) & 1) << j
            full[index] += value
        return self.comm.allreduce_sum(full)

    def expectation(self, terms: Sequence[PauliTerm] | str, qubits: Sequence[int] | None = None) -> float:
        """⟨ψ|O|ψ⟩ for a Pauli string or a real-weighted sum of them (collective).

        Args:
            terms: either a Pauli string such as ``"XZ"`` (then ``qubits``
                names its qubits, first letter on ``qubits[0]``), or a list of
                ``(coefficient, paulis, qubits)`` terms.

        Examples:
            >>> s = ShardedState(2); s.apply_gate("h", [0])
            >>> round(s.expectation("X", [0]), 12), round(s.expectation([(0.5, "ZZ", (0, 1))]), 12)
            (1.0, 0.0)
        """
        if isinstance(terms, str):
            if qubits is None or len(qubits) != len(terms):
                raise DqsimError(f"Pauli string {terms!r} needs one qubit per letter, got {qubits}")
            terms = [(1.0, terms, tuple(qubits))]
        total = 0.0
        for coeff, paulis, on in terms:
            total += coeff * self._pauli_expectation(paulis.upper(), self._check_qubits(on))
        return total

    def _pauli_expectation(self, paulis: str, qubits: tuple[int, ...]) -> float:
        """⟨P⟩ for one Pauli string; X/Y on rank bits pair this rank with ``rank ⊕ mask``."""
        if len(paulis) != len(qubits) or set(paulis) - set("IXYZ"):
            raise DqsimError(f"Pauli string {paulis!r} must use I, X, Y, Z, one letter per qubit {qubits}")
        x_bits, y_bits, z_bits = [], [], []
        phase = 1 + 0j
        rank_flip = 0
        for p, q in zip(paulis, qubits):
            if p == "I":
                continue
            if self.layout.is_local(q):
                {"X": x_bits, "Y": y_bits, "Z": z_bits}[p].append(self.layout.physical_of[q])
                continue
            bit = self._rank_bit_value(q)
            if p in "XY":
                rank_flip |= 1 << self.layout.rank_bit_of(q)
            if p == "Z" and bit:
                phase = -phase
            elif p == "Y":
                phase *= 1j if bit else -1j
        fetch = None
        if rank_flip:
            fetch = functools.partial(exchange.exchange_copy, self.xp, self.backend, self.comm,
                                      partner=self.comm.rank ^ rank_flip)

        local = kernels.pauli_expectation_local(self.xp, self.amplitudes, self.num_local_qubits,
                                                x_bits, z_bits, y_bits, self.kernel_chunk_elems, fetch)
        return float(self.comm.allreduce_sum((phase * local).real))

    def overlap(self, other: "ShardedState") -> complex:
        """⟨self|other⟩ (collective); both layouts are made canonical first."""
        if other.num_qubits != self.num_qubits or other.num_ranks != self.num_ranks:
            raise DqsimError("overlap needs states of equal qubit count on the same ranks")
        self.canonicalize_()
        other.canonicalize_()
        return self._summed(kernels.vdot(self.xp, self.amplitudes, other.amplitudes, self.kernel_chunk_elems))

    def zero_amplitude(self) -> complex:
        """⟨0…0|self⟩ (collective): the amplitude of the all-zeros basis state.

        It lies at local index 0 of rank 0 in every layout (its rank bits are
        all 0 whichever qubits they hold), so no relayout is needed.
        """
        return self._summed(complex(self.amplitudes[0]) if self.comm.rank == 0 else 0j)

    def _summed(self, local: complex) -> complex:
        """The sum over the ranks of one complex number each (collective)."""
        pair = self.comm.allreduce_sum(np.array([local.real, local.imag]))
        return complex(pair[0], pair[1])

    def fidelity(self, other: "ShardedState") -> float:
        """|⟨self|other⟩|² (collective)."""
        return abs(self.overlap(other)) ** 2

    # ------------------------------------------------------------ measurement
    def measure(self, qubits: Sequence[int] | int, *, basis: str = "Z", stream: Stream | None = None,
                reset: bool = False) -> list[int]:
        """Measure qubits with collapse (collective); returns one outcome per qubit.

        ``basis`` ``"X"`` or ``"Y"`` rotates to Z, measures, and rotates back,
        so the post-measurement state is the X/Y eigenstate. Outcomes are
        drawn one event of ``stream`` (default: the state's ``"measure"``
        stream) per group of up to 8 qubits. ``reset``: Z basis only; each
        measured qubit is then left in |0⟩ (``X`` where the outcome is 1),
        in the collapse's pass where one local qubit is measured.
        """
        if isinstance(qubits, (int, np.integer)):
            qubits = [int(qubits)]
        qubits = self._check_qubits(qubits)
        basis = basis.upper()
        if basis not in ("X", "Y", "Z"):
            raise DqsimError(f"basis = {basis!r}; allowed: X, Y, Z")
        if reset and basis != "Z":
            raise DqsimError(f"measure(reset=True) takes basis Z, got {basis!r}; rotate the qubits first")
        stream = stream or self.stream("measure")
        rotation = self._basis_rotation(basis)
        if rotation is not None:
            self.apply_ops([GateOp(rotation, (q,), name="basis") for q in qubits])
        outcomes: list[int] = []
        for start in range(0, len(qubits), 8):
            group = qubits[start : start + 8]
            probs = self.probabilities(group)
            total = probs.sum()
            u = stream.uniform() * total
            index = int(np.searchsorted(np.cumsum(probs), u, side="right"))
            index = min(index, probs.size - 1)
            while probs[index] == 0 and index > 0:
                index -= 1
            bits = [(index >> j) & 1 for j in range(len(group))]
            if reset and len(group) == 1 and self.layout.is_local(group[0]) \
                    and hasattr(self.backend.fast, "collapse_reset"):
                self.backend.fast.collapse_reset(self.amplitudes, self.layout.physical_of[group[0]], bits[0],
                                                 1.0 / math.sqrt(probs[index]))
            else:
                self._collapse(group, bits, probs[index])
                if reset and any(bits):
                    self.apply_ops([gate_op("x", [q]) for q, b in zip(group, bits) if b])
            outcomes.extend(bits)
        if rotation is not None:
            back = rotation.conj().T.copy()
            self.apply_ops([GateOp(back, (q,), name="basis") for q in qubits])
        return outcomes

    @staticmethod
    def _basis_rotation(basis: str):
        if basis == "X":
            return H
        if basis == "Y":  # H·S† maps the Y eigenbasis onto Z
            return H @ np.diag([1, -1j])
        return None

    def _collapse(self, qubits: Sequence[int], bits: Sequence[int], probability: float) -> None:
        local = [(self.layout.physical_of[q], b) for q, b in zip(qubits, bits) if self.layout.is_local(q)]
        kept = all(self._rank_bit_value(q) == b for q, b in zip(qubits, bits) if not self.layout.is_local(q))
        if local and kept and hasattr(self.backend.fast, "collapse"):
            self.backend.fast.collapse(self.amplitudes, [p for p, _ in local], [b for _, b in local],
                                       1.0 / math.sqrt(probability))
            return
        for q, b in zip(qubits, bits):
            if self.layout.is_local(q):
                kernels.zero_where(self.amplitudes, self.num_local_qubits, self.layout.physical_of[q], 1 - b)
            elif self._rank_bit_value(q) != b:
                self.amplitudes[...] = 0
        self.amplitudes *= 1.0 / math.sqrt(probability)

    def reset(self, qubit: int, *, stream: Stream | None = None) -> int:
        """Reset ``qubit`` to |0⟩ by measuring it and flipping a 1 (collective); returns the outcome.

        :meth:`measure` with ``reset``: one pass with the compiled kernels.
        """
        return self.measure([qubit], stream=stream, reset=True)[0]

    def sample(self, shots: int, qubits: Sequence[int] | None = None, *, stream: Stream | None = None) -> np.ndarray:
        """Draw measurement outcomes without collapse (collective).

        The layout is made canonical first, so the inverse-CDF runs over the
        logical index and a seed gives the same shots on any rank count.

        Args:
            shots: number of samples (>= 0).
            qubits: qubits to report (default all); bit j of each outcome is
                ``qubits[j]``.
            stream: default the state's ``"sample"`` stream (one event per call).

        Returns:
            int64 array of ``shots`` outcomes (identical on every rank): those
            :meth:`sample_chunks` gives in pieces.
        """
        pieces = list(self.sample_chunks(shots, qubits, stream=stream, chunk_shots=max(shots, 1)))
        return pieces[0] if len(pieces) == 1 else np.zeros(0, dtype=np.int64)

    def sample_chunks(self, shots: int, qubits: Sequence[int] | None = None, *, chunk_shots: int,
                      stream: Stream | None = None) -> Iterator[np.ndarray]:
        """:meth:`sample`'s ``shots`` outcomes, ``chunk_shots`` at a time (collective at the call and at each chunk).

        The checks, the stream's event, the canonical layout and the
        probability of each piece of the register (one ``allgather``) are
        taken at the call; each chunk then draws its uniforms from the one
        generator of that event, in order (Philox gives the same words
        whether they are drawn at once or in pieces), and gathers its outcomes
        with one ``allreduce``. So the chunks joined are the outcomes of one
        :meth:`sample` call, whatever ``chunk_shots``, and the memory held is
        a few arrays of ``chunk_shots`` (about 50 bytes per shot of a chunk)
        instead of a few of ``shots``. Every rank must take every chunk, in
        the same order, between the same collectives.

        Args:
            shots: number of samples (>= 0).
            qubits: as for :meth:`sample`.
            chunk_shots: most outcomes per chunk (>= 1).
            stream: as for :meth:`sample`.

        Returns:
            an iterator of int64 arrays (identical on every rank), ``ceil(shots / chunk_shots)`` of them.

        Examples:
            >>> from dqsim.backend import select
            >>> from dqsim.comm import SingleComm
            >>> state = ShardedState(3, SingleComm(), backend=select("numpy"), seed=5)
            >>> state.apply_gate("h", [0]); state.apply_gate("h", [2])
            >>> whole = state.sample(10)
            >>> state.streams.clear()  # the "sample" stream's first event again
            >>> np.array_equal(np.concatenate(list(state.sample_chunks(10, chunk_shots=4))), whole)
            True
        """
        if shots < 0:
            raise DqsimError(f"shots = {shots} must be >= 0")
        if chunk_shots < 1:
            raise DqsimError(f"chunk_shots = {chunk_shots} must be >= 1")
        qubits = self._check_qubits(range(self.num_qubits) if qubits is None else qubits)
        if len(qubits) > 62:
            raise DqsimError("sampling reports at most 62 qubits per outcome")
        stream = stream or self.stream("sample")
        generator = stream.next_generator()
        self.canonicalize_()
        xp = self.xp
        step = self.kernel_chunk_elems
        starts = list(range(0, self.amplitudes.size, step))
        local_sums = np.array([kernels.norm_squared(xp, self.amplitudes[s : s + step], step) for s in starts])
        flat = np.concatenate(self.comm.allgather(local_sums))
        return self._sample_pieces(generator, shots, chunk_shots, qubits, starts, flat)

    def _sample_pieces(self, generator: np.random.Generator, shots: int, chunk_shots: int, qubits: tuple[int, ...],
                       starts: list[int], flat: np.ndarray) -> Iterator[np.ndarray]:
        """The chunks of :meth:`sample_chunks` (collective at each): inverse-CDF over the pieces' sums ``flat``."""
        xp = self.xp
        size, step = self.amplitudes.size, self.kernel_chunk_elems
        cumulative = np.cumsum(flat)
        pieces_per_rank = len(starts)
        everything = list(qubits) == list(range(self.num_qubits))
        for first in range(0, shots, chunk_shots):
            count = min(chunk_shots, shots - first)
            u = generator.random(count) * cumulative[-1]
            piece_of = np.minimum(np.searchsorted(cumulative, u, side="right"), flat.size - 1)
            outcomes = np.zeros(count, dtype=np.int64)
            mine = np.nonzero(piece_of // pieces_per_rank == self.comm.rank)[0]
            if mine.size:
                local_piece = piece_of[mine] % pieces_per_rank
                for p in np.unique(local_piece):
                    sel = mine[local_piece == p]
                    start = starts[p]
                    part = self.amplitudes[start : start + step]
                    cdf = xp.cumsum(part.real.astype(xp.float64) ** 2 + part.imag.astype(xp.float64) ** 2)
                    before = cumulative[self.comm.rank * pieces_per_rank + p] - flat[self.comm.rank * pieces_per_rank + p]
                    idx = self.backend.to_host(xp.searchsorted(cdf, xp.asarray(u[sel] - before), side="right"))
                    idx = np.minimum(idx, part.size - 1)
                    outcomes[sel] = (self.comm.rank * size) + start + idx
            del u, piece_of, mine
            outcomes = self.comm.allreduce_sum(outcomes)
            if everything:
                yield outcomes
                continue
            result = np.zeros(count, dtype=np.int64)
            for j, q in enumerate(qubits):
                result |= ((outcomes >> q) & 1) << j
            yield result

    # ---------------------------------------------------------------- layout
    def _permute_rank_bits(self, order: Sequence[int]) -> None:
        """Move rank bit ``j`` to rank bit ``order[j]`` (a rank permutation; collective). The caller fixes the layout."""
        destination = []
        for r in range(self.num_ranks):
            new = 0
            for j, target_bit in enumerate(order):
                new |= ((r >> j) & 1) << target_bit
            destination.append(new)
        self.bytes_exchanged += exchange.permute_ranks(self.xp, self.backend, self.comm, self.amplitudes,
                                                       destination, self.exchange_chunk_bytes)
        self.num_exchanges += 1

    def canonicalize_(self) -> None:
        """Restore the identity layout: logical qubit q on physical bit q (collective)."""
        lay = self.layout
        if lay.is_identity():
            return
        L = self.num_local_qubits
        # 1. Rank bits holding low logical qubits swap with local bits holding high ones.
        wrong_rank = [p for p in range(L, self.num_qubits) if lay.logical_at[p] < L]
        missing = [lay.physical_of[q] for q in range(L, self.num_qubits) if lay.physical_of[q] < L]
        if wrong_rank:
            self._swap_pairs(list(zip(wrong_rank, missing)))
        # 2. Rank bits now hold logical L..n-1, possibly in the wrong order: permute ranks.
        order = [lay.logical_at[p] - L for p in range(L, self.num_qubits)]
        if order != list(range(len(order))):
            self._permute_rank_bits(order)
            lay.physical_of = [p if q < L else q for q, p in enumerate(lay.physical_of)]
        # 3. Local bits: a product of bit transpositions, each done in pieces.
        for p in range(L):
            q = lay.logical_at[p]
            if q != p:
                kernels.swap_local_bits(self.xp, self.amplitudes, L, p, lay.physical_of[p], self.kernel_chunk_elems)
                lay.swap_physical(p, lay.physical_of[p])

    def relayout_(self, physical_of: Sequence[int]) -> None:
        """Move the data so that logical qubit ``q`` sits on physical bit ``physical_of[q]`` (collective).

        The inverse of :meth:`canonicalize_` for any target layout: at most one
        bit-swap round, one rank permutation and local bit swaps, so a resumed
        checkpoint continues on the very layout the run had (bit-identical
        arithmetic from there on).
        """
        target = [int(p) for p in physical_of]
        n, L = self.num_qubits, self.num_local_qubits
        if sorted(target) != list(range(n)):
            raise DqsimError(f"layout {target} is not a permutation of 0..{n - 1}")
        lay = self.layout
        if lay.physical_of == target:
            return
        # 1. The right logical qubits on rank bits (as a set).
        want_rank = {q for q in range(n) if target[q] >= L}
        wrong_rank = [p for p in range(L, n) if lay.logical_at[p] not in want_rank]
        missing = [lay.physical_of[q] for q in sorted(want_rank) if lay.physical_of[q] < L]
        if wrong_rank:
            self._swap_pairs(list(zip(wrong_rank, missing)))
        # 2. Rank bits in the target order: permute ranks.
        at = lay.logical_at
        order = [target[at[L + j]] - L for j in range(n - L)]
        if order != list(range(n - L)):
            self._permute_rank_bits(order)
            lay.physical_of = [target[q] if target[q] >= L else p for q, p in enumerate(lay.physical_of)]
        # 3. Local bits: transpositions.
        wanted_at = [0] * n
        for q, p in enumerate(target):
            wanted_at[p] = q
        for p in range(L):
            current = lay.physical_of[wanted_at[p]]
            if current != p:
                kernels.swap_local_bits(self.xp, self.amplitudes, L, p, current, self.kernel_chunk_elems)
                lay.swap_physical(p, current)

    def gather(self, root: int = 0) -> np.ndarray | None:
        """The full state in logical order on ``root`` (host array), ``None`` elsewhere (collective).

        Refused above ``max_gather_qubits`` qubits.
        """
        if self.num_qubits > self.max_gather_qubits:
            raise ResourceError(
                f"gathering {self.num_qubits} qubits onto one rank is refused "
                f"(max_gather_qubits = {self.max_gather_qubits}); write the state with save_state instead"
            )
        host = self.backend.to_host(self.amplitudes)
        full = self.comm.gather_array(host, root=root)
        if full is None:
            return None
        n = self.num_qubits
        tensor = full.reshape((2,) * n)
        axes = [n - 1 - self.layout.physical_of[n - 1 - b] for b in range(n)]
        return np.ascontiguousarray(tensor.transpose(axes)).reshape(-1)

    def logical_slab_pieces(self, max_elems: int | None = None, *,
                            share: tuple[int, int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """This rank's slab of the logical-order state, as (offset, host array) pieces.

        Makes the layout canonical first (collective), then yields pieces of
        at most ``max_elems`` amplitudes copied off the device one at a time.
        Rank ``r``'s slab is logical amplitudes ``r·2^L … (r+1)·2^L − 1``.
        ``share=(i, m)`` yields only the ``i``-th of ``m`` equal parts of the
        slab, offsets counted from the part's start: how each of ``m`` ranks
        writes its part of a register they all hold whole (a one-process state
        replicated on every rank).
        """
        self.canonicalize_()
        step = max_elems or self.kernel_chunk_elems
        first, stop = 0, self.amplitudes.size
        if share is not None:
            index, count = share
            if count < 1 or not 0 <= index < count or stop % count:
                raise ValueError(f"share {share} does not split a slab of {stop} amplitudes into equal parts")
            first, stop = index * (stop // count), (index + 1) * (stop // count)
        for start in range(first, stop, step):
            yield start - first, self.backend.to_host(self.amplitudes[start : min(start + step, stop)])

    def add_qubit_(self) -> int:
        """Append one qubit in |0⟩ as the highest local bit; returns its logical index (collective).

        Each shard doubles (the old amplitudes are the half where the new bit
        is 0); rank bits keep their ranks. Used when a network qubit joins the
        data register for a protocol step (DESIGN.md invariant 2).

        Raises:
            ResourceError: the larger shard does not fit the free memory.
        """
        old_local = self.num_local_qubits
        physical = [p if p < old_local else p + 1 for p in self.layout.physical_of] + [old_local]
        self.num_qubits += 1
        self.num_local_qubits += 1
        try:
            self._check_memory(self.kernel_chunk_elems * self.dtype.itemsize)
        except ResourceError:
            self.num_qubits -= 1
            self.num_local_qubits -= 1
            raise
        self.layout = Layout(self.num_qubits, self.num_local_qubits, physical)
        old, had_window = self.amplitudes, self._shared is not None
        grown = self._zeros(1 << self.num_local_qubits)  # in a new window when the old one was
        grown[: old.size] = old
        self.amplitudes = grown
        del old
        if had_window:  # the same on every rank; free the old window now, not at the next allocation
            self.comm.free_released_windows()
        return self.num_qubits - 1

    def checkpoint_extras(self) -> dict:
        """What a subclass keeps beside the amplitudes that a checkpoint must save (picklable); none here."""
        return {}

    def restore_extras(self, extras: dict) -> None:
        """Take back what :meth:`checkpoint_extras` returned, when a checkpoint is resumed."""

    def set_state(self, vector: np.ndarray) -> None:
        """Load a full state (logical order, host array) into the shards (every rank passes it)."""
        vector = np.asarray(vector, dtype=self.dtype).reshape(-1)
        if vector.size != 1 << self.num_qubits:
            raise DqsimError(f"state has {vector.size} amplitudes, need {1 << self.num_qubits}")
        self.layout = Layout(self.num_qubits, self.num_local_qubits)
        size = self.amplitudes.size
        self.amplitudes[...] = self.xp.asarray(vector[self.comm.rank * size : (self.comm.rank + 1) * size])
