"""Checkpoints of the ``circuit`` scenario: its gate boundaries, written as the engine writes its cuts.

The circuit scenario runs no event engine and has no simulated time. Its
cuts are gate boundaries: between two pieces of a (fused) gate pass, where
no exchange is in flight, and, with trajectories (dynamic circuits,
``[noise]``), between two trajectories and at gate boundaries inside one
(:mod:`dqsim.scenarios.circuit_trajectory`). A cut is written by
:class:`dqsim.engine.checkpoint.Checkpointer`, as an engine run's cut is:
the same files (state slabs with per-part SHA-256, a manifest written last),
the same names ``NAME.HHHHHHHH.ckpt000-TTTT.h5`` — ``TTTT`` counts the cut's
position in place of picoseconds: operations of the fused schedule applied
so far, or, with trajectories, ``k·10^12`` before trajectory ``k`` and
``k·10^12 + 1 + s`` after ``s`` of its operations —, ``keep``, a warning for a periodic
write that fails, and exit status 75 after a signal's checkpoint.
:class:`CircuitCuts` presents to the checkpointer what it reads of an engine
run (a state, random streams, a shared record; no nodes).

A checkpoint holds the state in its current layout, the position (gate
pass, operation, the layout the pass was fused from and the fusion cost
table, so the resumed run fuses the very same blocks), the counters of the
random streams, the exchange counters and, with trajectories, the shots and
observable values so far and, between trajectories, the first trajectory's
final state (the state the output saves); inside a trajectory, that
trajectory's state and where it is (the path through ``if`` blocks, its
bits and observable values so far), and inside trajectory ``k > 0`` the
first trajectory's final state beside it (:class:`StatePair`: one register
of one more qubit, twice the size). Resumed on the same number of ranks, the run goes on
bit for bit; on another power of two, the pass in progress is continued
without the exchanges fusion had placed for the old layout (the state plans
its own), so amplitudes agree to rounding and shots are identical.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dqsim.circuit import fusion
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError, count_of
from dqsim.state.layout import BitSwaps, Layout, needs_locality

#: Amplitude passes (operations x local amplitudes) between two looks for a stop signal or the period:
#: 2^24 is about 0.1-0.5 s of one CPU core, so a 30-qubit shard looks at every operation.
CHECK_AMPLITUDE_PASSES = 1 << 24

#: Most operations between two looks (small states: the collective look costs more than the gates).
MAX_OPS_PER_CHECK = 256


def ops_per_check(num_local_qubits: int) -> int:
    """Operations applied between two gate boundaries at which a run looks for a stop or a checkpoint.

    A function of the shard size only, so every rank (and a resumed run)
    cuts the schedule at the same places.

    Examples:
        >>> ops_per_check(6), ops_per_check(20), ops_per_check(30)
        (256, 16, 1)
    """
    return max(1, min(MAX_OPS_PER_CHECK, CHECK_AMPLITUDE_PASSES >> max(0, num_local_qubits)))


@dataclass
class _Stats:
    """What the checkpointer reads of an engine run's statistics: here, the gate boundaries looked at."""

    num_windows: int = 0


class _Streams:
    """A circuit run's random streams by ``(node, purpose)``, as the engine's quantum memory names them."""

    def __init__(self, streams: dict):
        self.streams = dict(streams)

    def stream(self, node: int, purpose: str):
        """The stream a checkpoint names (restoring its counter)."""
        try:
            return self.streams[(node, purpose)]
        except KeyError:
            raise DqsimError(f"the checkpoint holds the random stream {purpose!r} of node {node}, which this "
                             "circuit run does not have; it belongs to another job") from None

    def set_touched(self, touched: dict) -> None:
        """A circuit run has no network qubits: a checkpoint of one names no last touch (refused otherwise)."""
        if touched:
            raise IndexError(f"qubit {min(touched)} is not one of this circuit run's network qubits (it has none)")


class StatePair:
    """Two registers of ``n`` qubits, shown to the checkpointer as one register of ``n + 1`` qubits.

    Logical qubit 0 picks the register (0: ``first``, 1: ``second``), qubit
    ``q + 1`` is their qubit ``q``: rank ``r``'s slab of the pair is rank
    ``r``'s slab of each, interleaved, so the pair is written and read in
    pieces, with no third register in memory, and resumes on another rank
    count as one register does. A cut inside trajectory ``k > 0`` holds the
    trajectory's state and the first trajectory's final state (the output's)
    as a pair. Each register keeps its own layout: ``layouts`` (stored in the
    cut's position) is where :meth:`relayout_` puts them back.

    Args:
        first, second: :class:`~dqsim.state.sharded.ShardedState` of the same size and precision on one
            communicator.
        layouts: each register's ``physical_of`` to restore (default: their layouts now).
    """

    def __init__(self, first, second, layouts: list | None = None):
        self.states = (first, second)
        self.comm, self.xp, self.dtype = second.comm, second.xp, second.dtype
        self.num_qubits, self.num_local_qubits = second.num_qubits + 1, second.num_local_qubits + 1
        self.layouts = layouts if layouts is not None else [list(s.layout.physical_of) for s in self.states]
        self.layout = _PairLayout(self)
        self.amplitudes = _Interleaved(self.states)

    def logical_slab_pieces(self, max_elems: int | None = None, *, share: tuple[int, int] | None = None):
        """This rank's slab of the pair in logical order, as ``(offset, host array)`` pieces (collective first).

        Both registers' layouts are made canonical first (as
        :meth:`~dqsim.state.sharded.ShardedState.logical_slab_pieces` does).
        """
        first, second = self.states
        half = None if max_elems is None else max(1, max_elems // 2)
        for (offset, a), (again, b) in zip(first.logical_slab_pieces(half, share=share),
                                           second.logical_slab_pieces(half, share=share)):
            if offset != again or a.size != b.size:
                raise DqsimError("the two registers of a checkpoint are not the same size; report it as a bug")
            out = np.empty(2 * a.size, dtype=a.dtype)
            out[0::2], out[1::2] = a, b
            yield 2 * offset, out

    def canonicalize_(self) -> None:
        """Make both registers' layouts canonical (collective), as the checkpoint's write does before its pieces."""
        for state in self.states:
            state.canonicalize_()

    def relayout_(self, physical_of) -> None:
        """Put each register back on its own layout (:attr:`layouts`) (collective); the pair's is the identity."""
        for state, layout in zip(self.states, self.layouts):
            state.relayout_(layout)


class _PairLayout:
    """The layout of a :class:`StatePair`: always canonical (its registers are, while it is written or read)."""

    def __init__(self, pair: StatePair):
        self.pair = pair

    @property
    def physical_of(self) -> list[int]:
        return list(range(self.pair.num_qubits))

    @physical_of.setter
    def physical_of(self, value) -> None:  # a restore loads canonical slabs
        for state in self.pair.states:
            state.layout.physical_of = list(range(state.num_qubits))


class _Interleaved:
    """The amplitudes of a :class:`StatePair` as a restore writes them: ``amplitudes[a:b] = piece`` (even ``a, b``)."""

    def __init__(self, states: tuple):
        self.states = states

    def __setitem__(self, key: slice, value) -> None:
        start, stop = key.start or 0, key.stop
        if start % 2 or stop % 2:
            raise DqsimError(f"a piece [{start}, {stop}) of a register pair splits an amplitude pair")
        first, second = self.states
        first.amplitudes[start // 2:stop // 2] = value[0::2]
        second.amplitudes[start // 2:stop // 2] = value[1::2]


class CircuitCuts:
    """The checkpoints of one circuit run (its methods are collective).

    Args:
        session: the run's :class:`~dqsim.engine.checkpoint.CheckpointSession`.
        comm: communicator from :func:`dqsim.comm.init`.

    Attributes:
        position: the cut resumed from (after :meth:`restore`), else ``{}``.
    """

    #: no nodes, no shared objects: what :class:`~dqsim.engine.checkpoint.Checkpointer` reads besides
    #: :meth:`node_snapshots`
    own_nodes: tuple = ()
    num_nodes: int = 0
    shared_objects: tuple = ()

    def __init__(self, session, comm):
        self.session = session
        self.comm = comm
        self.checkpointer = checkpoint.Checkpointer(session, comm, session.next_engine_run())
        self.state = None
        self.memory = _Streams({})
        self.stats = _Stats()
        self.position: dict = {}

    def node_snapshots(self) -> list:
        """No node records to save (:meth:`dqsim.engine.simulator.Simulator.node_snapshots`)."""
        return []

    @property
    def resuming(self):
        """The :class:`~dqsim.engine.checkpoint.Resume` of this run, or ``None``."""
        return self.checkpointer.resuming

    def restore(self, state, streams: dict, mode: str) -> dict:
        """Load the checkpoint into ``state`` (``None``: it holds none) and ``streams``; returns its position.

        Args:
            state: a fresh state of the run's size.
            streams: ``(node, purpose) -> Stream`` of the run.
            mode: ``"final-state"`` or ``"trajectories"``: how the job is run.

        Raises:
            DqsimError: the checkpoint was cut in the other mode (another job).
        """
        self.state, self.memory = state, _Streams(streams)
        self.checkpointer.restore(self)
        if self.position.get("mode") != mode:
            raise DqsimError(f"{self.resuming.path}: it was cut in {self.position.get('mode')!r} mode, this job "
                             f"runs in {mode!r} mode; the checkpoint does not belong to it")
        if state is not None:  # the exchanges of the run so far (the output's register), not the resume's own
            output = _registers(state)[0]
            output.num_exchanges = int(self.position["num_exchanges"])
            exchanged = self.position["bytes_exchanged"]
            output.bytes_exchanged = int(exchanged[self.comm.rank]) if len(exchanged) == self.comm.size else 0
        self.stats.num_windows = int(self.position.get("num_boundaries", 0))
        return self.position

    def stored_costs(self, costs):
        """The fusion cost table to use: the checkpoint's when resuming (the same blocks), else ``costs``."""
        if not self.position:
            return costs
        stored = self.position.get("costs")
        return None if stored is None else fusion.FusionCosts(**{**stored, "dense": tuple(stored["dense"])})

    # ------------------------------------------------ what Checkpointer reads of an engine run
    def global_snapshot(self) -> dict:
        return {"memory": {"last_touched": {}}, "circuit": dict(self.position)}

    def load_snapshot(self, nodes: dict, shared: dict) -> None:
        position = shared.get("circuit") if isinstance(shared, dict) else None
        if not isinstance(position, dict):
            raise DqsimError(f"{self.resuming.path}: not a checkpoint of a circuit run (no gate position)")
        self.position = position
        if isinstance(self.state, StatePair):  # where its registers go back to (a resume on the same rank count)
            self.state.layouts = position.get("pair_layouts") or self.state.layouts

    # ------------------------------------------------------------------------------ cuts
    def boundary(self, state, streams: dict, step: int, position: dict, where: str, costs, *,
                 output_counts: tuple[int, int] | None = None) -> None:
        """At a gate boundary: write a checkpoint if the period is over or a signal asked, then stop if asked.

        Args:
            state: the state to save (``None``: none yet), or a :class:`StatePair` (the output's register first).
            streams: ``(node, purpose) -> Stream`` whose counters go with it.
            step: the cut's position (``TTTT`` of its name), increasing along the run.
            position: what the run needs to continue from here (picklable plain data).
            where: the cut for a person (stored as the attribute ``circuit_cut``).
            costs: the fusion cost table in use (``None``: unfused).
            output_counts: the output register's ``(num_exchanges, bytes this rank sent)`` where ``state``
                does not hold that register (a run that does not keep the first trajectory's state);
                ``None``: they are ``state``'s (its first register's).

        Raises:
            CheckpointStop: on every rank, after the checkpoint a signal asked for.
            DqsimError: on every rank, when that checkpoint could not be written.
        """
        write, stop = self.checkpointer.requested()
        flags = int(self.comm.allreduce_max(int(write) | int(stop) << 1))  # a stop always asks to write
        self.stats.num_windows += 1
        if not flags:
            return
        registers = _registers(state)
        counters = [(register.num_exchanges, register.bytes_exchanged) for register in registers]
        output = output_counts if output_counts is not None else counters[0] if counters else (0, 0)
        self.state, self.memory = state, _Streams(streams)
        self.position = {**position, "costs": None if costs is None else asdict(costs),
                         "num_exchanges": output[0], "bytes_exchanged": self.comm.allgather(output[1]),
                         "num_boundaries": self.stats.num_windows}
        if isinstance(state, StatePair):
            self.position["pair_layouts"] = [list(layout) for layout in state.layouts]
        self.session.meta["circuit_cut"] = where  # dqsim inspect shows it
        path = self.checkpointer.write(self, step, stop=flags >= 2)
        for register, (num, size) in zip(registers, counters):  # writing moved the data (canonical order and
            register.num_exchanges, register.bytes_exchanged = num, size  # back): not the circuit's exchanges
        if flags >= 2:
            raise checkpoint.CheckpointStop(path)


def _registers(state) -> tuple:
    """The registers a checkpoint's state holds: none, one, or a :class:`StatePair`'s two (the output's first)."""
    if state is None:
        return ()
    return state.states if isinstance(state, StatePair) else (state,)


def resumed_pass(state, run: list, position: dict, costs, num_ranks_then: int) -> tuple[list, list[int], dict]:
    """The operations of the gate pass a checkpoint cut, as the run had them, and where to go on.

    The pass is fused again from the layout it was fused from (the
    checkpoint's, with its cost table), which gives the same blocks. On the
    rank count of the checkpoint the run goes on at the stored operation. On
    another one the rest of the pass is taken without its planned exchanges
    (:class:`~dqsim.state.layout.BitSwaps`, physical bits of the old layout):
    the state plans its own.

    Returns:
        ``(ops, origin, pass_info)``: the rest of the pass (to go on from
        index ``pass_info["op"]``), the index of each of its operations in
        the whole fused pass (the cuts' positions count those), and the
        entries of the position that later cuts of this pass store.

    Raises:
        DqsimError: the fused pass differs from the checkpoint's, or a fused
            block needs more local qubits than this rank count leaves.
    """
    layout = Layout(state.num_qubits, position["num_local"], list(position["fused_from"]))
    ops = list(run) if costs is None else fusion.fuse_ops(run, layout=layout, costs=costs)
    if len(ops) != position["num_ops"]:
        raise DqsimError(f"the gate pass fuses into {len(ops)} operations, the checkpoint's into "
                         f"{position['num_ops']}; resume it with the dqsim version that wrote it")
    info = {key: position[key] for key in ("fused_from", "num_local", "num_ops", "skip", "filtered")}
    if num_ranks_then == state.comm.size:
        return _remainder(ops, info), _original_indices(ops, info), {**info, "op": position["op"]}
    origin = _original_indices(ops, info)
    info = {**info, "skip": origin[position["op"]] if position["op"] < len(origin) else len(ops), "filtered": True}
    tail = _remainder(ops, info)
    widest = max((len(needs_locality(op)) for op in tail), default=0)
    if widest > state.num_local_qubits:
        raise DqsimError(f"the gate pass in progress was fused into blocks of up to {count_of(widest, 'qubit')}, "
                         f"but {count_of(state.comm.size, 'rank')} leave {state.num_local_qubits} local; resume on "
                         f"{count_of(num_ranks_then, 'rank')} or fewer")
    return tail, _original_indices(ops, info), {**info, "op": 0}


def _remainder(ops: list, info: dict) -> list:
    """The pass from ``info["skip"]`` on, without planned exchanges if ``info["filtered"]``."""
    rest = ops[info["skip"]:]
    return [op for op in rest if not isinstance(op, BitSwaps)] if info["filtered"] else rest


def _original_indices(ops: list, info: dict) -> list[int]:
    """For each operation of :func:`_remainder`, its index in the whole fused pass."""
    indices = range(info["skip"], len(ops))
    return [i for i in indices if not (info["filtered"] and isinstance(ops[i], BitSwaps))]
