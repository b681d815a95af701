"""The parallel discrete-event engine: nodes on ranks, horizons, flushes.

Each node runs *processes*: Python generators that yield commands
(:class:`Wait`, :class:`Receive`, :class:`MeasureCmd`) and call non-blocking
methods of their :class:`NodeContext` (send a message, issue a gate, make a
Bell pair, log), or :class:`~dqsim.engine.process.ResumableProcess` objects
whose state a checkpoint can save. Virtual time is an integer number of
picoseconds.

Ranks synchronise conservatively, in iterations of one collective exchange
each. At an exchange every rank tells every other rank the earliest time at
which anything it has yet to do could reach it: its pending event times plus
the shortest path of links to that rank (and the arrival of each message it
sends plus the path on from there, for every rank but the message's own
destination, which the exchange hands it to). The least of these promises is a rank's
*horizon*; it runs its nodes' events, in ``(time, node, origin, counter)``
order, up to its horizon, and never past the earliest time a reply to a
message it sends meanwhile could come back (every message is checked to
arrive no sooner than promised). A rank whose busy neighbours are far away
runs far ahead; next to a busy link it waits one link delay at most.

A process that measures a shared qubit blocks its node until the outcome is
known. Shared quantum operations travel with the exchange; every rank
applies, in ``(time, node, seq)`` order, all pending operations up to the
earliest pending measurement once every rank has passed that measurement's
time, so the global order of operations — and thus every outcome — is the
same for any number of ranks and any placement of nodes on ranks
(DESIGN.md invariants 2–4). Messages between nodes of one rank go straight
into the receiver's queue.
"""

from __future__ import annotations

from collections.abc import Sized
import gc
import heapq
from heapq import heappop, heappush, heapreplace
import math
import numbers
import time
from array import array
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any, Callable, ClassVar, Iterable, Sequence

import numpy as np

from dqsim.comm import error_class, error_like, held_error, raise_held
from dqsim.engine.process import ProcessHandle, ResumableProcess
from dqsim.engine.quantum import (BellDiagonalProbe, QOp, QuantumMemory, apply_local_op, apply_qop, ops_from_wire,
                                   qop, wire_ops)
from dqsim.errors import DqsimError
from dqsim.network.network import PROTOCOL_CLOCK_LIMIT_PS, UNREACHABLE_PS, Network, clock_limit_allowed_by
from dqsim.network.node import node_table
from dqsim.rng import Stream
from dqsim.state.gates import GateOp
from dqsim.state.small import DEFAULT_MAX_QUBITS
from dqsim.units import ps_to_seconds


class EngineError(DqsimError):
    """The network or a protocol broke an engine rule (a message inside its window, ...)."""


class StuckProcessError(EngineError):
    """The run can make no progress while processes still wait (:meth:`Simulator.run`).

    Raised on every rank alike, with one line naming the first few waiting
    processes (node, process, what each waits for) and how many more wait:
    no event is left on any rank while a process waits for a message no
    node sends (a :class:`Receive` that is not ``service``), or for an
    outcome no measurement will make (:class:`ReadOutcomes`).
    """


class ClockLimitError(EngineError):
    """The run would pass the engine's clock limit (:data:`~dqsim.network.network.PROTOCOL_CLOCK_LIMIT_PS`).

    Raised by :meth:`Simulator.run` on every rank alike, with the same one-line message (see
    :meth:`Simulator.refuse_past_clock`), so that a run on several ranks ends as a run on one does; as is
    every :class:`~dqsim.errors.DqsimError` a process raises (:meth:`Simulator.refuse_after_error`).
    """


#: What the clock refusal advises when the scenario names no keys (``Simulator(clock_advice=...)``).
DEFAULT_CLOCK_ADVICE = "shorten the job's durations or links, or lower its counts"


def clock_refusal(what: str, time_ps: int, advice: str) -> str:
    """The one line of a run refused for passing the engine's clock limit (2**61 ps, about 26.7 days).

    Args:
        what: what would pass it, as the start of a sentence (``"node a would wait until"``).
        time_ps: the time it would reach, ps (past the limit).
        advice: which job keys set the time scale and how to change them.

    Examples:
        >>> clock_refusal("node a would wait until", 3 * 2**60, "shorten [x].y").split(", ")
        ['node a would wait until 3458765 s of simulated time', "past the 2.306e+06 s (2**61 ps) the engine's int64 \
picosecond clock allows; shorten [x].y"]
    """
    limit = clock_limit_allowed_by("the engine's int64 picosecond clock")
    return f"{what} {ps_to_seconds(time_ps):.7g} s of simulated time, past the {limit}; {advice}"


# ----------------------------------------------------------------- commands
@dataclass(frozen=True)
class Wait:
    """Resume the process after ``delay_ps`` picoseconds."""

    delay_ps: int


@dataclass(frozen=True)
class Receive:
    """Resume the process with the next message whose tag equals ``tag``.

    With a ``count`` (>= 1): resume with a list of the next ``count``
    messages of that tag (in arrival order) once that many have come, at the
    arrival of the last one, or at once, in the same step, when they are all
    in the mailbox already. The messages before the last are delivered
    without resuming the process (a mailbox append), so a node that collects
    many messages of one kind (a repeater chain's end node: one message per
    swap) costs one process step instead of one per message.

    With ``service``: the receive of a *service loop*, a process that waits
    for requests for as long as the run lasts, so the run may end while it
    waits. A process left waiting in any other receive when no event is left
    anywhere is *stuck*: the run ends with a :class:`StuckProcessError`
    (:meth:`Simulator.run`).
    """

    tag: Any
    count: int | None = None
    service: bool = False

    def __post_init__(self) -> None:
        if self.count is not None and not _is_message_count(self.count):
            raise EngineError(f"Receive: count must be None or an integer >= 1, got {self.count!r}")


def _short_repr(value, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for a message tag in an error line.

    Examples:
        >>> _short_repr(("qkd", 0, "ec-pa", 3)), _short_repr("x" * 80, 10)
        ("('qkd', 0, 'ec-pa', 3)", "'xxxxxx...")
    """
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_message_count(count) -> bool:
    """Whether ``count`` is a valid :attr:`Receive.count` (an ``int`` >= 1, not a ``bool``)."""
    return not isinstance(count, bool) and isinstance(count, int) and count >= 1


def _take_messages(mailbox: dict, tag, box: list, count: int) -> list:
    """The first ``count`` messages of ``box`` (``mailbox[tag]``), removed; an emptied box leaves the mailbox."""
    messages = box[:count]
    del box[:count]
    if not box:  # no empty lists left behind: one tag per exchange would pile up
        del mailbox[tag]
    return messages


@dataclass(frozen=True)
class MeasureCmd:
    """Measure qubits (blocks the node until the outcome is known); resumes with the outcomes."""

    qubits: tuple[int, ...]
    basis: str = "Z"
    error_probability: float = 0.0


@dataclass(frozen=True)
class MeasureLater:
    """Measure qubits without blocking the node; resumes at once with an :class:`Outcome`.

    For a process that only passes the outcome on (a repeater's Bell
    measurement, whose bits go to the end node): its node keeps running while
    the measurement waits for a flush, and whoever needs the bits reads them
    with :class:`ReadOutcomes`. Outcomes are those a :class:`MeasureCmd` would
    give (the same operation at the same time, in the same global order).
    """

    qubits: tuple[int, ...]
    basis: str = "Z"
    error_probability: float = 0.0


@dataclass(frozen=True)
class Outcome:
    """A :class:`MeasureLater` measurement: its key ``(time, node, seq)`` and its bits once known here.

    ``bits`` is set when the measurement was applied at once (local small
    states); otherwise every rank learns the bits in the flush that applies
    it. Picklable: it may travel in a message to another rank.
    """

    key: tuple[int, int, int]
    bits: tuple[int, ...] | None = None

    def __reduce__(self):
        """Pickled as ``Outcome(key, bits)``: smaller and quicker to write than the default field dict."""
        return Outcome, (self.key, self.bits)


@dataclass(frozen=True)
class ReadOutcomes:
    """Resume with the bits of each :class:`Outcome` (a list of tuples), blocking the node until all are known."""

    outcomes: tuple[Outcome, ...]


@dataclass(frozen=True)
class Message:
    """A classical message (or a photon's heralding information) between nodes."""

    source: int
    dest: int
    tag: Any
    payload: Any
    sent_ps: int
    arrival_ps: int
    origin_counter: int
    #: A *quiet* message (:meth:`NodeContext.broadcast`'s ``quiet_until_ps``): its handling at the receiver
    #: causes nothing there before this time, ps, so the engine's promises count it there (0: not quiet). Set
    #: in the instance dict of quiet messages only (not a field: equal to a message without it otherwise).
    quiet_ps: ClassVar[int] = 0

    def __reduce__(self):
        """Pickled as one call of :func:`_message` on the fields (messages cross ranks at every exchange).

        The default pickling of a dataclass writes a class reference and a
        dict of the fields and reads them back through ``__setstate__``: about
        twice the time for the few messages of an exchange.
        """
        fields = (self.source, self.dest, self.tag, self.payload, self.sent_ps, self.arrival_ps,
                  self.origin_counter)
        return _message, (fields + (self.quiet_ps,) if self.quiet_ps else fields)


#: The commands a process may yield.
_COMMANDS = (Wait, Receive, MeasureCmd, MeasureLater, ReadOutcomes)


#: Makes the engine's frozen dataclasses (commands, messages) without ``__init__``: the hot paths then write
#: every field into the instance dict. A frozen dataclass's ``__init__`` sets each field through
#: ``object.__setattr__``, which costs more than the rest of an engine event; the objects are equal (equality,
#: hash, repr and pickling read the same fields).
_new = object.__new__


def _message(source: int, dest: int, tag, payload, sent_ps: int, arrival_ps: int, origin_counter: int,
             quiet_ps: int = 0) -> Message:
    """The :class:`Message` of these fields, made without ``__init__`` (see :data:`_new`; unpickling calls it)."""
    msg = _new(Message)
    msg.__dict__.update(source=source, dest=dest, tag=tag, payload=payload, sent_ps=sent_ps, arrival_ps=arrival_ps,
                        origin_counter=origin_counter)
    if quiet_ps:
        msg.__dict__["quiet_ps"] = quiet_ps
    return msg


def _quiet_head_ps(queue: list) -> int:
    """The earliest time at which a node's queued events can cause anything at other nodes, ps.

    An event's own time, but a quiet message's ``quiet_ps`` (:attr:`Message.quiet_ps`) when later: its
    handling causes nothing before then (checked while it is handled, :meth:`Simulator._broke_quiet`).
    For a queue whose head is a quiet message (the only callers'); one entry is the common case.
    """
    if len(queue) == 1:
        return queue[0][4].quiet_ps
    return min([max(time_ps, arg.quiet_ps) if action == "deliver" else time_ps
                for time_ps, _origin, _counter, action, arg in queue])


def _wire_message(source: int, dest: int, tag, payload, sent_ps: int, arrival_ps: int, origin_counter: int,
                  quiet_ps: int) -> tuple:
    """A message to another rank as a tuple of its fields, in :func:`_message`'s order, and two more
    (:func:`_wire_outcome`, then :attr:`Message.quiet_ps`, 0 when not quiet).

    How it waits in the outbox and crosses ranks at an exchange: the sender
    makes no :class:`Message` (only the receiver does), which saves making,
    wiring and dropping one for each of the ~1,000 messages a pair sends
    between the halves of a 1,024-node chain.

    Pickling a plain tuple is C code end to end; a :class:`Message` calls its
    ``__reduce__`` to pickle and :func:`_message` to unpickle, which made
    pickling and unpickling the ~2,000 messages between the halves of a
    1,024-node chain cost ~5 µs each (against ~1.5 µs as tuples, the
    receiver making the message again included).
    """
    if type(payload) is Outcome:  # (see _wire_outcome)
        return source, dest, tag, payload.key, sent_ps, arrival_ps, origin_counter, (payload.bits,), quiet_ps
    return source, dest, tag, payload, sent_ps, arrival_ps, origin_counter, None, quiet_ps


def _wire_outcome(key: tuple[int, int, int], bits: tuple[int, ...] | None) -> Outcome:
    """The :class:`Outcome` payload of a wire message, made without ``__init__`` (see :data:`_new`).

    A message whose payload is an :class:`Outcome` (a repeater's Bell
    measurement, on its way to the chain's end node) crosses ranks with the
    key in the payload's place and ``(bits,)`` in an eighth field (``None``
    for every other message): wiring, pickling, unpickling and making again
    the 511 that cross the 1,024-node chain's halves per pair costs ~0.35 ms
    less (~0.7 µs each; its ``__reduce__`` and ``__init__`` are Python calls).
    """
    outcome = _new(Outcome)
    outcome.__dict__.update(key=key, bits=bits)
    return outcome


def _last_passed(measures: list, progress: Sequence[float], blocked: Sequence[tuple]) -> tuple | None:
    """The key of the last pending measurement every rank has passed (``None``: not even the first).

    ``measures`` is the heap of pending measurements' keys ``(time, node,
    seq)``; rank ``r`` has passed key ``k`` when ``progress[r] > k[0]``, or
    ``progress[r] == k[0]`` equals the time of its earliest blocked node
    ``blocked[r]`` (time, node) and ``k[1]`` comes no later than that node
    (:meth:`Simulator._resolve`). Passing is monotone in key order, so the
    keys are taken in order until one fails.

    Examples:
        >>> _last_passed([(5, 1, 0), (9, 2, 0), (7, 0, 3)], [8, 10], [(math.inf, 0), (math.inf, 0)])
        (7, 0, 3)
        >>> _last_passed([(5, 1, 0)], [5, 10], [(5, 2), (math.inf, 0)])  # rank 0 held at 5 by node 2
        (5, 1, 0)
        >>> _last_passed([(5, 3, 0)], [5, 10], [(5, 2), (math.inf, 0)]) is None
        True
    """
    last = None
    for key in (measures if len(measures) == 1 else sorted(measures)):
        time_ps, node = key[0], key[1]
        if not all(done > time_ps or (done == time_ps == held[0] and node <= held[1])
                   for done, held in zip(progress, blocked)):
            break
        last = key
    return last


#: Waiting processes a :class:`StuckProcessError` names (the rest are counted).
_STUCK_LISTED = 3


def _stuck_line(parts: Sequence[tuple[int, list]]) -> str:
    """The one line of a :class:`StuckProcessError` from every rank's :meth:`Simulator._waiting_processes`.

    Examples:
        >>> line = _stuck_line([(4, [(1, 2, 0, "node c: process relay waits for a message 'x'")]), (0, [])])
        >>> line[:line.index(" 'x'")]
        'the run can go no further while 4 processes wait: node c: process relay waits for a message'
        >>> line[line.index(" 'x'"):line.index(" a loop")]
        " 'x'; and 3 more;"
    """
    count = sum(each[0] for each in parts)
    first = sorted((entry for each in parts for entry in each[1]), key=itemgetter(0, 1, 2))[:_STUCK_LISTED]
    listed = "; ".join(entry[3] for entry in first)
    more = f"; and {count - len(first)} more" if count > len(first) else ""
    advice = ("; a loop that serves requests until the run ends receives with ctx.receive(tag, service=True)"
              if any(entry[0] == 1 for entry in first) else "")
    return (f"the run can go no further while {count} process{'es wait' if count > 1 else ' waits'}: "
            f"{listed}{more}{advice}")


def _earliest_refusal(refusals: Iterable[tuple | None]) -> tuple | None:
    """Which refusal of those the ranks reported every rank raises (:meth:`Simulator.refuse_after_error`).

    Each is ``(time_ps, node, order, message, error class)``; the earliest
    is the least ``(time_ps, node, order)``: the simulated time of the event
    that found it, then the node's index (one rank runs a node, so the node
    also fixes the rank, and the choice does not depend on where the nodes
    are placed), then the order in which that rank found its refusals. The
    same on every rank, which all see the same list; ``None`` when none.

    Examples:
        >>> late, tie, first = (9, 0, 0, "late", ValueError), (5, 3, 0, "b", KeyError), (5, 1, 4, "a", KeyError)
        >>> _earliest_refusal([late, None, tie, first])[3], _earliest_refusal([None, None]) is None
        ('a', True)
    """
    return min([each for each in refusals if each is not None], key=itemgetter(0, 1, 2), default=None)


def _wire_info(promises: Sequence[float], handed: Sequence[float], earliest: float, held: tuple, next_ps: float,
               last_ps: int, flags: tuple[bool, bool], work: tuple | None, refusal: tuple | None = None,
               moved: bool = True) -> tuple:
    """A rank's fixed part of an exchange (:meth:`Simulator._post_exchange`) as one flat tuple.

    ``promises`` and ``handed`` hold one value per rank (ps; ``inf``: none):
    the first ``2 * size`` entries, then ``earliest``, the (time, node) of
    ``held`` as two entries, ``next_ps``, ``last_ps`` (ps), the two checkpoint
    ``flags`` (write, stop), ``work`` (``(done, total)`` or ``None``),
    ``moved`` (whether the rank ran an event since it posted the exchange
    before, or sent or issued something: :meth:`Simulator._stuck`) and
    ``refusal`` (this rank's earliest refusal of the run,
    :meth:`Simulator.refuse_after_error`, or ``None``).
    Flat, so that it pickles and unpickles without a container per field
    (~4 thousand instructions less per exchange on each rank) and every
    rank's parts are read in one transposition (:func:`_info_columns`).

    Examples:
        >>> _wire_info([5, 7], [9, 11], 3, (4, 2), 3, 1, (False, True), None)
        (5, 7, 9, 11, 3, 4, 2, 3, 1, False, True, None, True, None)
    """
    return (*promises, *handed, earliest, held[0], held[1], next_ps, last_ps, flags[0], flags[1], work, moved,
            refusal)


def _info_columns(infos: Sequence[tuple], size: int) -> tuple:
    """Every rank's :func:`_wire_info` (in rank order) read column by column.

    Returns ``(horizons, handed, earliest, held, next_ps, last_ps, write,
    stop, work, moved, refusal)``: ``horizons[r]`` is the least promise any rank made to rank
    ``r`` and ``handed[r]`` the earliest arrival of the messages handed to
    ``r``; ``refusal`` is the earliest refusal any rank reported
    (:func:`_earliest_refusal`; ``None``: none); each other item has one entry per rank (``held``: ``(time, node)``
    pairs).

    Examples:
        >>> columns = _info_columns([_wire_info([5, 7], [9, 11], 3, (4, 2), 3, 1, (False, True), None),
        ...                          _wire_info([6, 2], [8, 12], 5, (6, 0), 5, 2, (False, False), None)], 2)
        >>> columns[:4], columns[-1]
        (([5, 2], [8, 11], (3, 5), [(4, 2), (6, 0)]), None)
    """
    columns = list(zip(*infos))
    earliest, held_ps, held_node, next_ps, last_ps, write, stop, work, moved, refusals = columns[2 * size:]
    refusal = _earliest_refusal(refusals) if any(refusals) else None
    return (list(map(min, columns[:size])), list(map(min, columns[size:2 * size])), earliest,
            list(zip(held_ps, held_node)), next_ps, last_ps, write, stop, work, moved, refusal)


@dataclass(slots=True)
class _Node:
    index: int
    name: str
    now_ps: int = 0
    queue: list = field(default_factory=list)        # heap of (time, origin, counter, action, arg)
    mailbox: dict = field(default_factory=dict)      # tag -> list of messages (arrival order)
    waiting: dict = field(default_factory=dict)      # tag -> list of processes
    blocked_by: Any = None                           # (process, QOp) while a measurement is pending
    counter: int = 0                                 # events and messages this node created
    seq: int = 0                                     # quantum operations this node issued
    stream_cache: dict = field(default_factory=dict)
    processes: dict = field(default_factory=dict)    # handle -> None, in start order: live processes, ended resumable
                                                     # ones kept (a dict: an ended one leaves in O(1), _forget)
    data: dict = field(default_factory=dict)         # node-wide protocol data (ctx.node_data)


class _Records(dict):
    """The engine's records of nodes, by node index, each made on first use (:meth:`dict.__missing__`).

    A node gets its record when something first reads it: a process spawned on it, a message to it, a
    scenario's ``node_data``. A node of a large network that nothing reaches (a 65,536-node line running a
    4-qubit circuit: all but the few with steps) so holds none: no record, no containers (a record and its
    six containers took ~540 bytes). A record made for this rank's node joins :attr:`Simulator.local`.
    Lookups of a record that exists stay C-level dict reads.
    """

    __slots__ = ("_sim",)

    def __init__(self, sim: "Simulator"):
        super().__init__()
        self._sim = sim

    def __missing__(self, index: int) -> _Node:
        sim = self._sim
        if not 0 <= index < sim._num_nodes:
            raise IndexError(f"node index {index} outside 0..{sim._num_nodes - 1}")
        node = self[index] = _Node(index, sim.network.names[index])
        if sim._rank_at[index] == sim._rank:
            sim._local.append(node)
            sim._local_sorted = False
        return node


#: A C-level read of a record's node index.
_INDEX = attrgetter("index")

#: Fields of a node a checkpoint saves and a resume restores (:meth:`Simulator.node_snapshot`).
_SAVED_NODE_FIELDS = ("now_ps", "queue", "mailbox", "waiting", "blocked_by", "counter", "seq", "stream_cache",
                      "processes", "data")

#: Most events a rank runs between two exchanges with several ranks: small, so a rank that waits for a busy
#: one gets a fresh promise soon (a 1,024-node chain on 2 ranks: 0.71 of the events on the busier rank of each
#: iteration at 64, 0.75 at 256, 0.85 at 1,024). Progress reports and checkpoint requests are seen at exchanges.
EVENTS_PER_EXCHANGE = 64

#: The same on one rank, where an exchange waits for nobody.
EVENTS_PER_EXCHANGE_ONE_RANK = 1024

#: On one rank with a checkpointer, iterations start at one event and double (up to
#: ``EVENTS_PER_EXCHANGE_ONE_RANK``) after each: the same in every run of a job, so ``engine_windows`` and
#: ``engine_flushes`` do not depend on the machine's speed. A request for a checkpoint (a stop signal, the wall-clock
#: period) is looked at between any two instants of an iteration too (:meth:`Simulator._run_local`), and where no
#: node waits for a flush there (a cut) the checkpoint is written at once, without an exchange, with the events
#: left of the iteration's budget: its resume runs those and goes on as the uninterrupted run does. Until
#: 2026-12-06 the budget halved after an iteration of more than a second of wall time (so that slow events, a QKD
#: batch of 10^7 pulses: ~0.1 s, still let a SIGTERM be seen within about a second): under load the counts then
#: followed the machine's speed (BB84 in 200,000-pulse batches: 7 windows idle, 9 at load 11-19).
#: With several ranks: CPU seconds a rank runs events after an exchange before it goes to the next one (at
#: least one event, at most ``EVENTS_PER_EXCHANGE_ONE_RANK``), instead of ``EVENTS_PER_EXCHANGE`` events;
#: ``None``: the count. Ranks that both have work then wait less for each other (equal time, not equal event
#: counts): a lockstep model of the 1,024-node chain's trace gives the busier rank 0.546-0.558 of one rank's
#: event time at 2 ms against 0.576-0.590 at 64 events, but the measured wall time on 2 ranks moved only
#: 0.50 -> 0.49 s (``bench/results/chain-balance-vm-20261204.md``). Off by default: the results are the same,
#: but the number of exchanges and flushes then depends on the machine's speed.
EXCHANGE_CPU_S: float | None = None

#: With several ranks: while another rank can run nothing, run up to ``EVENTS_PER_EXCHANGE_ONE_RANK`` events
#: and go to the next exchange once that rank may have something to run (:meth:`Simulator._starved_peers`).
STARVED_PEERS_RULE = True

#: With several ranks: overlap each exchange with events (:meth:`Simulator._run`). A rank *posts* the exchange
#: (starts a non-blocking all-to-all) once its budget is spent, keeps running events below the horizon it already
#: has while the exchange is in flight, looking at it every ``POLL_EVENTS`` events, and completes it once every
#: rank has posted. A rank whose events of an iteration cost less no longer waits for the other in a collective:
#: a model of the 1,024-node chain's trace gives the busier rank 0.539 of one rank's event time against 0.575 in
#: lockstep (0.536: any conservative schedule with this lookahead; ``bench/chain_trace.py``). ``False``: the
#: lockstep (one blocking ``alltoall`` per iteration). Results are the same either way; with it, as with
#: :data:`EXCHANGE_CPU_S`, the number of exchanges and flushes depends on the machine's speed.
PIPELINED_EXCHANGE = True

#: With several ranks: promises count a quiet message (``ctx.broadcast(..., quiet_until_ps=T)``) at ``T``, not at
#: its arrival (:meth:`Simulator._promises`). ``False``: at its arrival, as any message (the handling is still
#: checked against its promise). Results are the same either way; ``bench/chain_ranks.py --no-quiet`` compares.
QUIET_MESSAGES = True

#: While a node of a rank waits for a flush to resolve its measurement at ``t``, the rank's other nodes run on
#: past ``t``, each up to ``t`` plus its least delay of links from the waiting node
#: (:meth:`Simulator._blocked_bound_ps`: the waiting node resumes at ``t`` and reaches others only through
#: messages), instead of the whole rank stopping at ``t``; a node past its bound waits (is *held*). An operation
#: such an event issues on a local small state is applied at once only when no node behind it (blocked, held
#: with an earlier event, or reachable earlier by a blocked node's message) owns a qubit of that state
#: (:meth:`Simulator._behind_free`), else it goes through a
#: flush, where the earliest operation on the state installs it (:meth:`Simulator._carry_first`); a rank's held
#: node with an event at its blocked node's time bounds what that rank has passed (:meth:`Simulator._held_at`).
#: Results are the same either way (``bench/network_bench.py``'s ring: 2 ranks in the lockstep spent 0.63 of
#: one rank's events on the critical path with it off, 0.57 with it on; ``bench/results/network_ranks-vm-20261205.md``).
#: It relies on DESIGN.md invariant 3: a node touches another node's qubit only while that node keeps it reserved.
RUN_PAST_BLOCKED = True

#: Exchanges a stop signal waits for one that is a cut (:meth:`Simulator._run`: every event run before every
#: event left, on every rank) before it makes one by running no event past the latest one run: the resumed run's
#: ``engine_windows`` and ``engine_flushes`` may then differ from the uninterrupted run's (a window cut short).
#: On one rank nearly every exchange is a cut; a 20-pair repeater chain on 2 ranks had 1,814 of 2,943.
STOP_WAIT_EXCHANGES = 8

#: Events a rank runs between two looks at an exchange in flight (each look costs about a microsecond).
POLL_EVENTS = 4

#: Objects allocated before the youngest generation is collected while :meth:`Simulator.run` runs.
_GC_YOUNG_THRESHOLD = 50_000

#: :meth:`Simulator._promises` visits only the nodes with work when the ready and blocked heaps hold at most
#: this many entries (else every node, nearest first, until none can beat the best found).
_FEW_BUSY_NODES = 32

#: A promise of "never" in the integer arithmetic of :meth:`Simulator._promises`.
_UNREACHABLE = UNREACHABLE_PS


@dataclass(frozen=True)
class _Exchange:
    """What every rank learns from one exchange (the same on every rank)."""

    resolved: bool      # a measurement was resolved
    next_ps: float      # earliest unprocessed event or message anywhere (inf: none)
    last_ps: int        # latest event any rank has run
    fraction: float | None
    write: bool         # some rank asks for a checkpoint
    stop: bool          # ... and to stop after it
    stuck: bool         # no rank can ever run an event again (see Simulator._stuck)


@dataclass
class _Posted:
    """An exchange this rank has posted (:meth:`Simulator._post_exchange`) and not completed yet."""

    handle: Any         # the all-to-all in flight (None with one rank)
    own: tuple          # this rank's own part: (operations, (), _wire_info)
    work: tuple | None  # this rank's work_done when it posted
    started: float      # perf_counter() when it posted


#: Engine counts each rank keeps for itself, summed over ranks at the end of a run.
_PER_RANK_COUNTS = ("num_events", "num_messages", "num_cross_rank_messages", "num_quantum_ops")


class NodeContext:
    """What a process sees of its node: clock, messages, quantum operations.

    Args are set by the :class:`Simulator`; processes receive their context
    as the first argument.
    """

    __slots__ = ("_sim", "_node", "_streams")

    def __init__(self, sim: "Simulator", node: _Node):
        self._sim = sim
        self._node = node
        self._streams: dict = {}  # purpose -> ProcessStream (over the node's Stream of that purpose)

    @property
    def node(self) -> int:
        return self._node.index

    @property
    def name(self) -> str:
        return self._node.name

    def name_of(self, node: int) -> str:
        """The name of node ``node`` (an index of the network), for timeline details (:meth:`log`)."""
        return self._sim.network.names[node]

    @property
    def now_ps(self) -> int:
        return self._node.now_ps

    @property
    def processing_delay_ps(self) -> int:
        """Time this node takes to act on a classical message, ps (its ``NodeSpec.classical_processing_delay_ps``).

        The engine adds it to every message the node receives
        (:meth:`~dqsim.network.network.Network.latency_ps`); a protocol adds
        it itself where the node learns something without a message, e.g. a
        heralding station's click at an EPR initiator
        (:class:`~dqsim.protocols.epr.EprInitiator`).
        """
        return self._sim.network.nodes[self._node.index].classical_processing_delay_ps

    @property
    def backend(self):
        """The run's :class:`dqsim.backend.Backend` (``None`` when the scenario gave none)."""
        return self._sim.backend

    def wait(self, delay_ps: int) -> Wait:
        if delay_ps < 0:
            raise EngineError(f"node {self.name}: wait of {delay_ps} ps is negative")
        command = _new(Wait)
        command.__dict__["delay_ps"] = int(delay_ps)  # (see _new)
        return command

    def receive(self, tag, count: int | None = None, *, service: bool = False) -> Receive:
        """``yield`` it to get the next message of ``tag`` (with ``count``: a list of that many; see :class:`Receive`).

        ``service``: the receive of a loop that serves requests for as long as
        the run lasts, which the run's end may leave waiting; any other
        receive left waiting when no event is left makes the run end with a
        :class:`StuckProcessError`.
        """
        command = _new(Receive)
        command.__dict__["tag"] = tag  # (see _new; count None and service False are the class defaults)
        if count is not None:
            if not _is_message_count(count):
                raise EngineError(f"node {self.name}: receive count must be an integer >= 1, got {count!r}")
            command.__dict__["count"] = count
        if service:
            command.__dict__["service"] = True
        return command

    def take_arrived(self, tag) -> list:
        """The messages of ``tag`` already in this node's mailbox, removed from it (arrival order; ``[]``: none).

        Not a command: it does not wait and costs no event. A message is in the
        mailbox once its arrival has come (``arrival_ps`` before now, or at now
        when its delivery ran before this step) and no process waited for its
        tag. A node that sends a stream of messages and gets one answer per
        message takes the answers that have come at each of its own steps,
        instead of letting them pile up until it waits for them (a QKD key
        block's detection reports, :class:`~dqsim.protocols.qkd.nodes.Bb84Alice`).
        Which messages have come at a given step is the same on every rank
        count (events run in ``(time, origin, counter)`` order). A plain process
        re-executed from its log gets the messages it took then (:meth:`record`).
        """
        return self.record(self._take_from_mailbox, tag)

    def discard(self, stale: Callable[[Any], bool]) -> None:
        """Drop this node's messages whose tag is ``stale`` and end its processes waiting for such a tag.

        Not a command: it does not wait and costs no event. For a protocol that
        abandons an exchange midway (a repeater chain's cut-off,
        :mod:`dqsim.protocols.repeater`): a message of the abandoned exchange
        that no process will ever take would stay in the mailbox to the end of
        the run, and a process waiting for an answer its peer will never send
        would stay with it (and in every checkpoint), one lot per abandoned
        exchange. ``stale(tag)`` must hold only for tags no process of this
        node will receive again; a message of such a tag that arrives later
        goes to the mailbox, for the next call. The processes end as if they
        had returned (their generators are closed). What is in the mailbox and
        who waits at a given step is the same on every rank count (see
        :meth:`take_arrived`); a restored process re-executed from its log
        drops nothing (the node was saved after it had).
        """
        if self._muted:
            return
        node = self._node
        for tag in [tag for tag in node.mailbox if stale(tag)]:
            del node.mailbox[tag]
        for tag in [tag for tag in node.waiting if stale(tag)]:
            for waiter in node.waiting.pop(tag):
                process = waiter[0] if type(waiter) is tuple else waiter  # (process, count): a counted receive
                self._sim._end_process(node, process)

    def _take_from_mailbox(self, tag) -> list:
        node = self._node
        box = node.mailbox.pop(tag, None)
        if box is None:
            return []
        if self._sim._quiet_ps:
            self._sim._broke_quiet(node, f"takes message {tag!r} from its mailbox")
        return box

    def measure(self, qubits: Sequence[int], *, basis: str = "Z", error_probability: float = 0.0) -> MeasureCmd:
        command = _new(MeasureCmd)  # (see _new)
        command.__dict__.update(qubits=tuple(qubits), basis=basis, error_probability=error_probability)
        return command

    def measure_later(self, qubits: Sequence[int], *, basis: str = "Z",
                      error_probability: float = 0.0) -> MeasureLater:
        """A measurement the node does not wait for: ``yield`` it to get an :class:`Outcome` at once."""
        return MeasureLater(tuple(qubits), basis, error_probability)

    def read_outcomes(self, outcomes: Sequence[Outcome]) -> ReadOutcomes:
        """``yield`` it to get the bits of :meth:`measure_later` outcomes (the node waits until all are known)."""
        return ReadOutcomes(tuple(outcomes))

    @property
    def _muted(self) -> bool:
        """True while a restored process is re-executed from its log: it must change nothing."""
        current = self._sim._current
        return current is not None and current._records is not None  # ProcessHandle.reexecuting, inlined

    def send(self, dest: int, tag, payload=None, *, extra_delay_ps: int = 0) -> int:
        """Send a classical message to node ``dest``; returns its arrival time (ps).

        It takes :meth:`~dqsim.network.network.Network.latency_ps`: on a routed network the route of least
        fibre length, on one built with ``routed=False`` (:func:`~dqsim.scenarios.programs.run_node_programs`)
        the link joining the two nodes, where a message to a node with no link is refused
        (:class:`~dqsim.errors.ResourceError`).
        """
        sim = self._sim
        current = sim._current
        if current is not None and current._records is not None:  # self._muted, inlined
            return sim._arrival_ps(self._node, dest, extra_delay_ps)
        return sim._send(self._node, dest, tag, payload, extra_delay_ps)

    def send_over_link(self, dest: int, tag, payload=None, *, extra_delay_ps: int = 0) -> int:
        """:meth:`send` along the link joining this node and ``dest``, not the route of least length; returns its
        arrival time (ps): now + :meth:`~dqsim.network.network.Network.link_latency_ps` + ``extra_delay_ps``.

        For what travels that link's own fibre, a heralding station's message
        (:func:`dqsim.protocols.epr.announce_pair`): a route through other
        nodes may be shorter than the link, and :meth:`send` follows the
        route. The link is never shorter than the least delay between the two
        nodes, so the engine's lookahead holds for it.

        Raises:
            ResourceError: no link joins this node and ``dest``.
        """
        sim, node = self._sim, self._node
        link_ps = sim.network.link_latency_ps(node.index, dest)
        route_ps = sim._arrival_ps(node, dest, 0) - node.now_ps  # what send's latency is
        return self.send(dest, tag, payload, extra_delay_ps=extra_delay_ps + link_ps - route_ps)

    def broadcast(self, dests: Iterable[int], tag, payload=None, *, quiet_until_ps: int = 0) -> None:
        """Send the same message (one tag, one payload, no extra delay) to each node of ``dests``, in that order.

        The same messages, events and results as :meth:`send` to each node in
        turn (each arrives after its own latency, ps), made in one loop: an end
        node telling all 1,023 others of a 1,024-node chain that a pair was
        delivered spends ~40 % less CPU on it (``bench/results/chain-vm-cp-20261205.md``).

        ``quiet_until_ps``: the protocol's promise that a receiver's handling
        of the message, where it arrives earlier, causes nothing before this
        time: the process it resumes sends, spawns and measures nothing and
        waits at least until then (a notice that the next round starts then).
        With several ranks the engine then lets other ranks run up to this
        time plus their distance, rather than the arrival plus their distance
        (a lookahead longer than the links'); results are the same either way.
        A handling that breaks the promise stops the run with an
        :class:`EngineError` on any number of ranks.
        """
        sim = self._sim
        current = sim._current
        if current is not None and current._records is not None:  # self._muted, inlined
            for dest in dests:
                sim._arrival_ps(self._node, dest, 0)
            return
        sim._broadcast(self._node, dests, tag, payload, quiet_until_ps)

    def apply(self, op: GateOp, *, error_probability: float = 0.0) -> None:
        """Issue a gate on this node's qubits at the current time."""
        if not self._muted:
            self._sim._issue(self._node, "gate", op.qubits, op, error_probability)

    def bell_pair(self, qubit_here: int, qubit_there: int, werner, *, arrival_ps: int = 0) -> None:
        """Create a pair on (qubit_here, qubit_there); the peer must hold its qubit reserved.

        ``werner``: the Werner parameter of a Werner pair (a float), or the
        pair's exact state, a 4x4 density matrix (NumPy array, little-endian:
        ``qubit_here`` is the low bit; e.g.
        :attr:`~dqsim.network.link.LinkSpec.delivered_state`, not Bell
        diagonal for single-click links). Small states hold it exactly; in the
        data register it is a trajectory (one eigenvector, drawn with its
        eigenvalue as probability).

        ``arrival_ps`` > 0: the peer's half reaches its memory that long after
        now (a photon in flight, which does not decohere), so the peer's qubit
        starts to decohere then; this node's starts now.
        """
        sim = self._sim
        current = sim._current
        if current is None or current._records is None:  # not self._muted, inlined
            if isinstance(werner, np.ndarray):
                if werner.shape != (4, 4):
                    raise EngineError(f"node {self.name}: bell_pair state must be a 4x4 density matrix, "
                                      f"got shape {werner.shape}")
            else:
                werner = float(werner)
            payload = (werner, int(arrival_ps)) if arrival_ps else werner
            sim._issue(self._node, "bell", (qubit_here, qubit_there), payload)

    def probe_bell_fidelity(self, qubit_a: int, qubit_b: int, key) -> None:
        """Read the Bell fidelity ⟨Φ+|ρ|Φ+⟩ of two qubits at the current time without changing them.

        The value appears in :meth:`Simulator.gather_probes` once the
        operation is applied (in order with every other operation); ``key``
        must be picklable and unique in the run. The node does not block.
        """
        if not self._muted:
            self._sim._issue(self._node, "probe", (qubit_a, qubit_b), key)

    def probe_bell_diagonal(self, qubit_a: int, qubit_b: int, key) -> None:
        """Read the Bell weights ``(p(Φ+), p(Φ−), p(Ψ+), p(Ψ−))`` of two qubits now, without changing them.

        As :meth:`probe_bell_fidelity` (the first weight is that fidelity);
        the tuple appears in :meth:`Simulator.gather_probes` under ``key``.
        """
        if not self._muted:
            self._sim._issue(self._node, "probe", (qubit_a, qubit_b), BellDiagonalProbe(key))

    def reset(self, qubits: Sequence[int]) -> None:
        """Reset qubits to |0⟩ (no outcome is returned, so the node does not block)."""
        sim = self._sim
        current = sim._current
        if current is None or current._records is None:  # not self._muted, inlined
            sim._issue(self._node, "reset", qubits, None)  # (_issue makes the tuple)

    def spawn(self, process_fn, *args) -> None:
        """Start another process on this node at the current time.

        ``process_fn`` is a generator function called as ``process_fn(ctx, *args)``
        or a :class:`~dqsim.engine.process.ResumableProcess` (no ``args``).
        """
        if not self._muted:  # a restored child was saved on its own
            if self._sim._quiet_ps:
                self._sim._broke_quiet(self._node, "started a process")
            self._sim._start(self._node, self._sim._handle_of(self._node, process_fn, args), self._node.now_ps)

    def check_clock(self, time_ps: int, what: str, advice: str | None = None) -> bool:
        """Whether ``time_ps`` is within the engine's clock limit (2**61 ps); if not, the run is refused.

        For a protocol that knows, before it schedules anything, that what it
        starts would end past the limit, and can say which key to change
        better than the run's ``clock_advice`` (QKD's Cascade names the
        classical bit rate it needs). The refusal is the engine's
        (:meth:`Simulator.refuse_past_clock`): the run stops at the next
        exchange on every rank alike, with ``what`` and ``advice`` in its
        one line; the process may go on to its next command (nothing more
        runs on this rank). Every event scheduled past the limit is refused so
        anyway, with the run's advice.

        Args:
            time_ps: the time it would reach, ps.
            what: the start of the message (``"... would end at"``), completed by :func:`clock_refusal`.
            advice: which keys to change, and how (``None``: the run's ``clock_advice``).

        Returns:
            True when ``time_ps`` is within the limit (nothing was refused).
        """
        if time_ps <= PROTOCOL_CLOCK_LIMIT_PS:
            return True
        if not self._muted:
            self._sim.refuse_past_clock(self._node.index, time_ps, what, advice)
        return False

    def stream(self, purpose: str) -> "ProcessStream":
        """This node's random stream for a protocol decision (see :mod:`dqsim.rng`)."""
        cache = self._node.stream_cache
        stream = cache.get(purpose)
        if stream is None:
            stream = cache[purpose] = Stream(self._sim.seed, node=self._node.index, purpose=purpose)
        wrapped = self._streams.get(purpose)
        if wrapped is None or wrapped._stream is not stream:  # the node's streams may be restored
            wrapped = self._streams[purpose] = ProcessStream(stream, self)
        return wrapped

    @property
    def node_data(self) -> dict:
        """Protocol data shared by this node's processes (saved with the node in checkpoints).

        Change it only inside :meth:`effect` and read what steers a process
        through :meth:`record`, so that a restored process can be re-executed.
        """
        return self._node.data

    def record(self, read: Callable, *args):
        """``read(*args)``, logged for re-execution: use it for reads of shared, changing data."""
        current = self._sim._current
        if current is not None and current.reexecuting:
            return current.next_record()
        value = read(*args)
        return current.record(value) if current is not None else value

    def effect(self, change: Callable, *args):
        """``change(*args)``, skipped when a restored process is re-executed (it was done before)."""
        if not self._muted:
            return change(*args)
        return None

    @property
    def logging(self) -> bool:
        """Whether :meth:`log` keeps entries now (a timeline is recorded and the process is not muted).

        Lets a protocol skip formatting a detail nobody reads.
        """
        return self._sim.record_timeline and not self._muted

    def log(self, kind: str, detail: str = "") -> None:
        """Add an entry to the run's timeline."""
        if self._sim.record_timeline and not self._muted:
            self._sim.timeline.append((self._node.now_ps, self._node.index, kind, detail))

    def count(self, key, amount: int = 1) -> None:
        """Add an integer to a named statistic of this rank (summed over ranks at the end).

        Integers only, so that the sum over ranks is exact on any number of ranks (DESIGN.md invariant 5):
        a float (a fidelity, an age in s) is refused in one line; count it in integer units (ps) or probe it
        (:meth:`probe_bell_fidelity`). Until 2026-12-07 (night) a float was added and ``counter`` truncated it.
        """
        if amount.__class__ is not int and not isinstance(amount, numbers.Integral):
            raise DqsimError(f"node {self._node.name}: ctx.count({key!r}, {amount!r}): the amount must be an integer "
                             f"(counts are summed exactly over ranks); count in integer units, e.g. ps")
        sim = self._sim
        current = sim._current
        if current is None or current._records is None:  # not self._muted, inlined
            statistics = sim.statistics
            statistics[key] = statistics.get(key, 0) + amount


class ProcessStream:
    """A node's :class:`~dqsim.rng.Stream` as a process sees it: its events are logged for re-execution."""

    __slots__ = ("_stream", "_ctx")

    def __init__(self, stream: Stream, ctx: NodeContext):
        self._stream = stream
        self._ctx = ctx

    def _advance(self) -> int:
        event = self._stream.event
        self._stream.event += 1
        return event

    def _next_event(self) -> int:
        """The next event counter, advanced: ``self._ctx.record(self._advance)`` with its common case inlined."""
        current = self._ctx._sim._current
        if current is None or (current.log is None and current._records is None):  # nothing to log or replay
            stream = self._stream
            event = stream.event
            stream.event = event + 1
            return event
        return self._ctx.record(self._advance)

    def next_generator(self) -> np.random.Generator:
        """The generator of the next event; advances the counter by one."""
        return self._stream.generator(self._ctx.record(self._advance))

    def generator(self, event: int) -> np.random.Generator:
        """The generator of one event, without advancing the counter."""
        return self._stream.generator(event)

    def next_transient_generator(self) -> np.random.Generator:
        """The generator of the next event, shared by all streams (:meth:`~dqsim.rng.Stream.transient_generator`:
        draw from it at once, before any other stream draws); advances the counter by one."""
        return self._stream.transient_generator(self._next_event())

    def uniform(self, size: int | None = None):
        """Uniform draws in [0, 1) from the next event."""
        return self._stream.transient_generator(self._next_event()).random(size)

    def geometric(self, p: float) -> int:
        """Trials up to and including the first success (probability ``p`` each), from the next event."""
        return int(self._stream.transient_generator(self._next_event()).geometric(p))

    def binomial(self, n: int, p: float) -> int:
        """Successes in ``n`` trials of probability ``p`` each, from the next event."""
        return int(self._stream.transient_generator(self._next_event()).binomial(n, p))


@dataclass
class RunStatistics:
    """What the engine did after :meth:`Simulator.run`.

    Counts of events and messages, the end time and ``counters`` are summed or
    agreed over ranks (identical everywhere); ``flush_seconds``,
    ``state_seconds`` and ``wall_seconds`` are this rank's own timings.

    Which counts follow the machine's speed: events, quantum operations and
    messages are the run's own (cross-rank messages: of its placement too).
    ``num_windows`` (exchanges) and ``num_flushes`` (one per exchange, and
    one at the end) are the run's and its rank count's on one rank (since
    2026-12-06 also with a checkpointer: the event budget no longer follows
    wall time, and a checkpoint asked for inside an iteration adds no
    exchange) and on several ranks with a checkpointer (nothing runs while
    an exchange is in flight); without one, :data:`PIPELINED_EXCHANGE`
    and :data:`EXCHANGE_CPU_S` make them depend on the ranks' relative
    speed. A stop that makes its own cut (:data:`STOP_WAIT_EXCHANGES`), or a
    resume on another rank count, may change them too.
    """

    end_time_ps: int = 0
    num_windows: int = 0      # exchanges (iterations of the run loop; once fixed-length windows)
    num_flushes: int = 0
    num_events: int = 0
    num_quantum_ops: int = 0
    num_messages: int = 0
    num_cross_rank_messages: int = 0
    flush_seconds: float = 0.0
    state_seconds: float = 0.0
    wall_seconds: float = 0.0
    counters: dict = field(default_factory=dict)


def _sum_statistics(parts: Iterable[dict]) -> dict:
    """The ``ctx.count`` statistics of every rank (one dict each), summed key by key.

    Keys in the order they first appear; a key of one part only keeps its
    value (``ctx.count`` makes every value ``0 + amount`` already). Only the
    keys several parts share are added in Python; the rest is one C-level
    ``dict.update`` per part: a 1,024-node chain counts per node (~4,000
    keys, each on one rank), which took ~0.7 ms per rank in a key-by-key loop.

    Examples:
        >>> _sum_statistics([{("swaps", 1): 2, "pairs": 1}, {"pairs": 3, ("swaps", 7): 1}])
        {('swaps', 1): 2, 'pairs': 4, ('swaps', 7): 1}
    """
    merged: dict = {}
    for part in parts:
        common = merged.keys() & part.keys()
        sums = {key: merged[key] + part[key] for key in common} if common else None
        merged.update(part)
        if sums:
            merged.update(sums)
    return merged


def _sum_counts(parts: Iterable[tuple]) -> dict:
    """Every rank's engine counts (tuples in the order of ``_PER_RANK_COUNTS``), summed by name."""
    totals = [0] * len(_PER_RANK_COUNTS)
    for part in parts:
        totals = [t + v for t, v in zip(totals, part)]
    return {name: int(total) for name, total in zip(_PER_RANK_COUNTS, totals)}


def _nearest_first(column: array, rank_of_node: np.ndarray, rank: int) -> array:
    """The nodes of ``rank`` whose distance in ``column`` (one rank's column of
    :meth:`~dqsim.network.network.Network.rank_distance_columns`, ps) is below ``UNREACHABLE_PS``, by distance and
    then index: the order ``sorted((column[n], n) for n in nodes)`` gives, as an ``array("q")`` of indices.

        >>> list(_nearest_first(array("q", [7, 3, 3, UNREACHABLE_PS, 1]), np.array([0, 0, 0, 0, 1]), 0))
        [1, 2, 0]
    """
    own = np.flatnonzero(rank_of_node == rank)
    distance = np.frombuffer(column, dtype=np.int64)[own] if len(column) else np.zeros(0, dtype=np.int64)
    reached = distance < UNREACHABLE_PS
    own, distance = own[reached], distance[reached]
    return array("q", own[np.lexsort((own, distance))].astype(np.int64).tobytes())


class Simulator:
    """Runs node processes on ranks over a shared sharded state.

    Args:
        network: the run's :class:`~dqsim.network.network.Network`. The
            engine takes from it the node names (node ``i`` has index ``i``),
            the rank that runs each node (``network.placement``, for
            ``comm.size`` ranks), the latency of a message between two nodes,
            every node's memory times T1/T2, and the least delay from each
            node to each rank
            (:meth:`~dqsim.network.network.Network.rank_distances_ps`), from
            which each rank's horizon is worked out at every exchange. A node with a link to a node of another rank is a
            *boundary* node: a protocol there may have a qubit touched by the
            far node (an EPR pair made by the initiator), so its network qubits
            always go through flushes. Other nodes' small states are updated
            and measured by their rank alone, at once.
        comm: communicator (:func:`dqsim.comm.init`).
        state: the :class:`~dqsim.state.sharded.ShardedState` of the data register (``None``: none).
        qubit_owner: node index of every global qubit.
        seed: the run's seed.
        record_timeline: keep a timeline of logged events.
        on_window: called on rank 0 after each exchange as
            ``on_window(time_ps, num_windows, fraction_done)``.
        work_done: optional ``() -> (done, total)`` of this rank's nodes
            (e.g. circuit steps); summed over ranks at each exchange to give
            ``fraction_done`` (``None`` without it).
        checkpointer: a :class:`dqsim.engine.checkpoint.Checkpointer`, to
            write checkpoints at cuts in simulated time and to resume one.
        backend: the :class:`dqsim.backend.Backend` processes see as ``ctx.backend``.
        num_data_qubits: global qubits ``0..num_data_qubits-1`` are data qubits,
            register bit = index; every other qubit is a network qubit in a
            small state (:mod:`dqsim.engine.quantum`), and register bits from
            ``num_data_qubits`` up are scratch bits for network qubits that
            join the register. ``None``: every qubit is in the register.
        max_small_qubits: largest small state of entangled network qubits.
        clock_advice: which job keys set the run's time scale and how to change them, for the one line that
            refuses a run passing the clock limit (:meth:`refuse_past_clock`); ``None``:
            :data:`DEFAULT_CLOCK_ADVICE`.

    The clock limit: no event may be scheduled, and no message arrive, later than
    :data:`~dqsim.network.network.PROTOCOL_CLOCK_LIMIT_PS` (2**61 ps, about 26.7 days), half of what the
    promises between ranks count as never (:data:`~dqsim.network.network.UNREACHABLE_PS`). A process that
    would (a :class:`Wait`, a message, a spawn past it) stops the run at the next exchange, on every rank
    alike, with :class:`ClockLimitError` (:meth:`refuse_past_clock`).

    User errors: a :class:`~dqsim.errors.DqsimError` raised in a process's step (by the process, or by the
    engine for a rule the process broke) stops the run the same way: :meth:`run` raises it on every rank
    alike, at the next exchange (:meth:`refuse_after_error`). Other exceptions (bugs) propagate at once, on
    the rank that ran the step.

    Raises:
        EngineError: a network placed for another number of ranks than ``comm.size``.
    """

    def __init__(self, network: Network, *, comm, state, qubit_owner: Sequence[int], seed: int = 0,
                 record_timeline: bool = True, on_window: Callable[[int, int, float | None], None] | None = None,
                 work_done: Callable[[], tuple[int, int]] | None = None, checkpointer=None, backend=None,
                 num_data_qubits: int | None = None, max_small_qubits: int = DEFAULT_MAX_QUBITS,
                 clock_advice: str | None = None):
        if network.num_ranks != comm.size:
            raise EngineError(f"the network is placed on {network.num_ranks} rank(s) but the run has {comm.size}; "
                              "build the Network with num_ranks = comm.size")
        self.network = network
        self.comm = comm
        self.backend = backend
        self.state = state
        self.seed = int(seed)
        self.clock_advice = clock_advice if clock_advice is not None else DEFAULT_CLOCK_ADVICE
        #: This rank's earliest refusal of the run, ``(time_ps, node, order, message, error class)``
        #: (:meth:`_refuse`; ``None``: none yet), the exception it raises (``None``: a clock refusal) and how
        #: many refusals this rank found.
        self._refusal: tuple | None = None
        self._refused_error: DqsimError | None = None
        self._refusals_found = 0
        #: The earliest refusal an exchange reported that every rank is still to pass (:meth:`_await_refusal`).
        self._pending_refusal: tuple | None = None
        #: The rank of every node: the network's read-only array (:attr:`Network.placement`, int16), not a copy (a
        #: list until 2026-12-07 (afternoon): 8 bytes a node more on every rank); the engine's own reads of it go
        #: through ``_rank_at``, a ``memoryview`` of it (Python ints, as fast as a list's items).
        self.rank_of_node: np.ndarray = network.placement
        self._rank_at = memoryview(network.placement)
        self._latency = network.latency_ps
        self._latencies: dict[int, int] = {}             # source * num_nodes + dest -> latency, ps
        self._latency_rows: set[int] = set()             # sources whose every latency is in _latencies
        self._num_nodes = network.num_nodes
        self.lookahead_ps = network.lookahead_ps
        self._rank = comm.rank
        #: The engine's record of a node, by node index, made when first read (:class:`_Records`: a spawn, a
        #: message, a scenario's ``node_data`` or ``context``): a node that nothing reaches has none. The engine's
        #: own paths read this rank's nodes only; another rank's node gets an empty record if a scenario asks.
        self.nodes: dict[int, _Node] = _Records(self)
        self._local: list[_Node] = []                     # records of this rank's nodes (see local)
        self._local_sorted = True
        # the node of each qubit as one 8-byte integer each (a scenario's register map may hold it as a formula,
        # an object that NumPy reads as an array in one pass: no int object per qubit)
        owners = array("q")
        owners.frombytes(np.ascontiguousarray(np.asarray(qubit_owner, dtype=np.int64).reshape(-1)).tobytes())
        # every node's T1/T2: one value for all where the nodes share one spec (a job's), else 8 bytes a node (lists
        # of 8 bytes a node each, the same float repeated, until 2026-12-07 (late afternoon))
        t1_s, t2_s = node_table(network.nodes, "t1_s"), node_table(network.nodes, "t2_s")
        self.memory = QuantumMemory(owners, t1_s, t2_s,
                                    self.seed, num_data_qubits=num_data_qubits, max_small_qubits=max_small_qubits)
        # per node first, then per qubit in C-level passes (every rank builds these for every qubit)
        node_rank = network.placement.astype(np.int32)  # (NumPy passes: no Python int per node or qubit)
        if comm.size > 1:
            node_rank[network.boundary_node_indices()] = -1
        of_qubit = np.frombuffer(owners, dtype=np.int64) if len(owners) else np.zeros(0, dtype=np.int64)
        #: Rank of each qubit's node, or -1 when the node is a boundary node (never local).
        self._rank_of_qubit = array("i", node_rank[of_qubit].tobytes())
        #: Per qubit: a network qubit of a non-boundary node of this rank (what never changes in _is_local).
        #: (bytes, 0 or 1, as ``_rank_of_qubit`` is 4-byte ints: every rank holds one per qubit of the network)
        self._own_network_qubit = bytearray((node_rank == comm.rank)[of_qubit].view(np.uint8).tobytes())
        del node_rank, of_qubit
        num_data = min(self.memory.num_data_qubits, len(self._own_network_qubit))
        self._own_network_qubit[:num_data] = bytes(num_data)
        self._in_flight: dict[int, int] = {}               # qubit -> this rank's buffered/pending ops on it
        #: While an event runs past a blocked node's time (RUN_PAST_BLOCKED): its time, else -1; and the
        #: :meth:`_blocked_bound_ps` cache of the :meth:`_run_local` call it runs in.
        self._ahead_ps = -1
        self._ahead_waits: list = [-1, []]
        self._node_distances: dict[int, array] = {}       # node -> least delay from it to every node, ps
        self._num_blocks = 0                              # nodes blocked so far (see _blocked_bound_ps)
        if state is not None:
            self.memory.free_slots = list(range(self.memory.num_data_qubits, state.num_qubits))
            self.memory.peak_register_qubits = state.num_qubits
        self.record_timeline = record_timeline
        self.on_window = on_window
        self.work_done = work_done
        self.checkpointer = checkpointer
        self.timeline: list[tuple[int, int, str, str]] = []
        self.statistics: dict = {}
        self._current: ProcessHandle | None = None       # the process being stepped
        #: While a quiet message is handled (see NodeContext.broadcast): its quiet_ps and tag, else 0.
        self._quiet_ps = 0
        self._quiet_tag = None
        self._shared: list = []                           # objects saved by reference (see share)
        self._buffer: list[QOp] = []
        self._pending: list = []                          # heap of (key, QOp) gathered from all ranks
        #: Qubit -> the pending operation whose carry holds its small state (see _carry_first).
        self._carried: dict[int, QOp] = {}
        self._installed: set = set()                      # keys of pending operations whose carry is installed
        self._pending_measures: list = []                 # heap of the keys of pending measurements
        self._ready: list = []                            # heap of (head time, node index) of local nodes
        self._blocked: list = []                          # heap of (measurement time, node index), lazily valid
        self._outbox: list[list[tuple]] = [[] for _ in range(comm.size)]  # per rank: _wire_message tuples
        #: Least delay from each node to each rank, by rank (``_dist[rank][node]``: the network's ``array("q")``
        #: columns, :meth:`~dqsim.network.network.Network.rank_distance_columns`, not a copy; see :meth:`_promises`);
        #: only with several ranks. (A list per node until 2026-12-07 (late afternoon), ~160 bytes a node.)
        self._dist: tuple[array, ...] | None = network.rank_distance_columns() if comm.size > 1 else None
        self._dist_home = self._dist[comm.rank] if self._dist is not None else None
        #: Per rank: this rank's nodes that reach it, nearest first (by distance, then index; an ``array("q")`` of
        #: node indices, 8 bytes a node: ``(distance, node)`` tuples until 2026-12-07 (late afternoon), ~130 bytes);
        #: ``None``: this rank itself.
        self._by_distance = ([None if rank == comm.rank else
                              _nearest_first(self._dist[rank], self.rank_of_node, comm.rank)
                              for rank in range(comm.size)] if comm.size > 1 else [])
        #: Per rank: the least distance from this rank's nodes to it (``inf``: unreachable, or this rank).
        self._nearest = [math.inf if not order else self._dist[rank][order[0]]
                         for rank, order in enumerate(self._by_distance)]
        #: Per rank: nothing other ranks have yet to do reaches it before this time (agreed at exchanges).
        self._horizons: list[float] = [-math.inf] * comm.size
        #: What the last exchange said about ranks that can run nothing (see :meth:`_starved_peers`):
        #: run past ``_release_ps`` no further, and stop once a message goes to a rank of ``_idle_peers``.
        self._release_ps: float = math.inf
        self._idle_peers: list[int] = []
        self._peers_starved = False
        #: Events this rank runs between two exchanges (see :meth:`_run`; saved with a checkpoint).
        self._budget = EVENTS_PER_EXCHANGE_ONE_RANK
        #: On one rank: the events the iteration under way may still run (saved with a checkpoint written inside
        #: it, :meth:`_run_local`'s look; ``None``: the whole budget, as after an exchange).
        self._budget_left: int | None = None
        #: Set by :meth:`_run_local` when a look found a checkpoint asked for at a cut: the budget it had left.
        self._cut_left: int | None = None
        #: A resume restored this rank's outcome of the exchange its checkpoint was written at (horizons, starved
        #: peers, budget): the run goes on from there without an exchange of its own (:meth:`load_snapshot`).
        self._loop_restored = False
        #: One rank resumed from a checkpoint of several: its flushes hand shared small states back (as with several
        #: ranks; :meth:`_hand_back`), since the operations restored as pending ones make their states shared, and
        #: on one rank nothing else would make them local again (see :meth:`load_snapshot`).
        self._rehome = False
        #: This rank runs no event at or after this time before the next exchange completes (see :meth:`_send`):
        #: the earliest a reply to a message not yet in the exchanged promises could come back.
        self._send_limit: float = math.inf
        #: The same for the messages sent since the last exchange was posted (they are in the next one's promises).
        self._send_limit_posted: float = math.inf
        self._last_event_ps = 0                          # latest event this rank has run
        #: Whether run() has ended (saved with a checkpoint taken after it: its resume runs no event).
        self.finished = False
        #: After run(): this rank's own counts of ``_PER_RANK_COUNTS`` (``stats`` then holds their sums).
        self._rank_counts: tuple[int, ...] | None = None
        self._exchanged_cpu_s = 0.0                      # process_time() when the last alltoall returned
        self._events_posted = 0                          # stats.num_events when this rank last posted an exchange
        self._quiet_exchanges = 0                        # exchanges in a row at which nothing moved (see _stuck)
        #: Bits of the shared MeasureLater measurements applied so far, by key (on every rank).
        self._later: dict[tuple[int, int, int], tuple[int, ...]] = {}
        self._readers: list[int] = []                    # local nodes blocked in a ReadOutcomes
        #: Per node of ``_readers``: keys of the outcomes it reads that were not known at the last look.
        self._unread: dict[int, list] = {}
        self.stats = RunStatistics()
        self._at_end: Callable[[], Any] | None = None   # see gather_at_end
        #: After run(): every rank's gather_at_end payload, in rank order (``None``: none was asked for).
        self.gathered_at_end: list | None = None

    @property
    def local(self) -> list[_Node]:
        """The records of this rank's nodes that have one (:class:`_Records`), in node order."""
        if not self._local_sorted:
            self._local.sort(key=_INDEX)
            self._local_sorted = True
        return self._local

    @property
    def num_nodes(self) -> int:
        """Nodes of the network (every rank's; ``len(nodes)`` counts the records made so far)."""
        return self._num_nodes

    @property
    def own_nodes(self) -> list[int]:
        """The indices of this rank's nodes, with a record or not, in order (a resume reads their saved records)."""
        rank = self._rank
        return np.flatnonzero(self.rank_of_node == rank).tolist()

    # ---------------------------------------------------------- processes
    def context(self, node: int) -> NodeContext:
        return NodeContext(self, self._node(node))

    def _node(self, index: int) -> _Node:
        """The engine's record of node ``index``, made on first use (:class:`_Records`).

        Another rank's node's record is what the rank that runs the node starts
        with; nothing of the engine reads it (it is never run here).
        """
        return self.nodes[index]

    def spawn(self, node: int, process_fn, *args, at_ps: int = 0) -> None:
        """Start a process on ``node`` at ``at_ps`` (ignored on other ranks).

        ``process_fn`` is a generator function, started as ``process_fn(ctx, *args)``,
        or a :class:`~dqsim.engine.process.ResumableProcess` (no ``args``).

        Only the rank that runs ``node`` looks at the spawn, so a spawn the
        engine refuses (an :class:`EngineError`: a ``ResumableProcess`` given
        arguments; a start past the clock limit) is not raised here: it
        refuses the run as an error in a process's step does
        (:meth:`refuse_after_error`), and :meth:`run` raises it on every rank
        alike, before any event.
        """
        if self._rank_at[node] != self.comm.rank:
            return
        n = self.nodes[node]  # (made here for a node's first process: _Records)
        try:
            handle = self._handle_of(n, process_fn, args)
        except DqsimError as error:  # (on this rank only: the others would wait for it in the first exchange)
            self.refuse_after_error(n, error)
            return
        self._start(n, handle, at_ps)

    def _handle_of(self, node: _Node, process_fn, args) -> ProcessHandle:
        context = NodeContext(self, node)
        if isinstance(process_fn, ResumableProcess):
            if args:
                raise EngineError(f"node {node.name}: a ResumableProcess takes no spawn arguments")
            handle = ProcessHandle(process=process_fn, context=context)
        else:
            handle = ProcessHandle(function=process_fn, args=args, context=context,
                                   log=self.checkpointer is not None)
        node.processes[handle] = None
        return handle

    def share(self, obj):
        """Register an object processes get as an argument and the scenario rebuilds on resume.

        Checkpoints save it by reference (its position among shared objects),
        so it may hold functions; it must not change during the run (changing
        data belongs in ``ctx.node_data``). Returns ``obj``.
        """
        self._shared.append(obj)
        return obj

    @property
    def shared_objects(self) -> list:
        """The objects registered with :meth:`share`, in order (checkpoints refer to them by position)."""
        return self._shared

    def node_data(self, node: int) -> dict:
        """The ``ctx.node_data`` of a node (meaningful on the rank that runs it)."""
        return self._node(node).data

    def processes(self) -> list[ResumableProcess]:
        """The resumable processes started on this rank's nodes, finished or not, in start order.

        (Finished ones only where their class keeps them: ``kept_after_end``.)

        After a resumed run these are the restored objects, so scenarios read
        their results from here rather than from objects they made before the run.
        """
        return [h.process for node in self.local for h in node.processes if h.resumable]

    def _start(self, node: _Node, process: ProcessHandle, at_ps: int) -> None:
        if at_ps > PROTOCOL_CLOCK_LIMIT_PS:
            self.refuse_past_clock(node.index, at_ps, f"node {node.name} would start a process at")
            return
        self._push(node, at_ps, node.index, "resume", (process, None))

    def _enqueue(self, node: _Node, entry: tuple) -> None:
        """Put an event in a local node's queue and keep the ready heap current."""
        queue = node.queue
        heappush(queue, entry)
        if queue[0] is entry and node.blocked_by is None:
            heappush(self._ready, (entry[0], node.index))

    def _push(self, node: _Node, time_ps: int, origin: int, action: str, arg) -> None:
        source = self.nodes[origin]
        source.counter += 1
        self._enqueue(node, (time_ps, origin, source.counter, action, arg))

    @staticmethod
    def _resume_later(node: _Node, time_ps: int, process: ProcessHandle, value) -> None:
        """Queue the resumption of one of ``node``'s own processes (:meth:`_push` from the node itself).

        Only :meth:`_step` calls it, and every caller of :meth:`_step` puts
        the node's queue head in the ready heap after the step (the node may
        have blocked meanwhile), so it does not do so here.
        """
        node.counter += 1
        heappush(node.queue, (time_ps, node.index, node.counter, "resume", (process, value)))

    def _is_local(self, qubits, node_index: int = -1) -> bool:
        """Whether an operation on ``qubits`` touches local small states only (this rank applies it now).

        Local: every qubit is a network qubit of a non-boundary node of this
        rank, not in the register, not in a shared small state, and not
        touched by an operation of this rank still waiting for a flush.
        """
        own, in_flight, memory = self._own_network_qubit, self._in_flight, self.memory
        slot_of, shared = memory.slot_of, memory.shared_qubits
        for q in qubits:
            if not own[q] or q in slot_of or q in shared or q in in_flight:
                return False
        if self._ahead_ps >= 0:
            return self._behind_free(qubits, node_index)
        return True

    def _behind_free(self, qubits, me: int) -> bool:
        """While an event of node ``me`` runs past a blocked node's time: whether no node that is behind it owns a
        qubit of the small states of ``qubits`` (one could still issue an earlier operation on them).

        Behind: blocked, or with an event before this one, or reachable before it by a message of a blocked node
        (:meth:`_blocked_bound_ps`): such a node, idle now, may still get one and act on the state earlier. (Before
        2026-12-06 that last case was left out: a one-rank resume of a 2-rank checkpoint of a 256-link chain
        applied two swaps on one small state out of time order, and the second pair's fidelity differed by
        1 ulp from the uninterrupted run's.)
        """
        time_ps = self._ahead_ps
        nodes, owner, group_of = self.nodes, self.memory.owner, self.memory.small.group_of
        for q in qubits:
            group = group_of(q)
            for member in (group.qubits if group is not None else (q,)):
                index = owner[member]
                if index == me:
                    continue
                node = nodes[index]
                if node.blocked_by is not None:
                    return False
                queue = node.queue
                if queue and (queue[0][0], index) < (time_ps, me):
                    return False
                if (self._blocked_bound_ps(index, self._ahead_waits), index) < (time_ps, me):
                    return False
        return True

    def _issue(self, node: _Node, kind: str, qubits, payload, error_probability: float = 0.0):
        """Issue an operation: applied at once on local small states, else buffered for the next flush.

        Returns ``(op, outcome, applied)``; ``outcome`` is a measurement's
        result when ``applied`` (then ``op`` is ``None``: a local operation
        needs no record). Local operations run in ``(time, node)`` order — no
        node runs past a blocked node's time — so their order is the global
        ``(time, node, seq)`` order restricted to their small states
        (DESIGN.md invariant 4).
        """
        node.seq += 1
        qubits = tuple(map(int, qubits))
        if self._is_local(qubits, node.index):
            self.stats.num_quantum_ops += 1
            if kind != "probe":
                outcome = apply_local_op(self.memory, node.now_ps, node.index, node.seq, kind, qubits, payload,
                                         float(error_probability))
                return None, outcome, True
            op = qop(node.now_ps, node.index, node.seq, kind, qubits, payload, float(error_probability))
            return op, apply_qop(None, self.memory, op, shared=False), True
        op = qop(node.now_ps, node.index, node.seq, kind, qubits, payload, float(error_probability),
                 self.memory.carry_local(qubits))
        for q in self._flight_qubits(op):
            self._in_flight[q] = self._in_flight.get(q, 0) + 1
        self._buffer.append(op)
        return op, None, False

    def _check_reach(self, op: QOp) -> None:
        """A shared operation may touch another rank's qubit only at a boundary node (a probe only reads it)."""
        issuer_rank = self._rank_at[op.node]
        for q in op.qubits:
            rank = self._rank_of_qubit[q]
            if rank in (-1, issuer_rank):
                continue
            if op.kind != "probe":
                raise EngineError(
                    f"node {self.network.names[op.node]} touched qubit {q} of node "
                    f"{self.network.names[self.memory.owner[q]]} on another rank without a link between them; "
                    "add that link to the Network")
            if (rank == self.comm.rank and q not in self.memory.shared_qubits
                    and self.memory.small.group_of(q) is not None):
                raise EngineError(f"node {self.network.names[op.node]} probed qubit {q}, which is in a small state "
                                  "held by another rank only; probe qubits of one entangled group")

    @staticmethod
    def _flight_qubits(op: QOp):
        return set(op.qubits).union(*(qubits for qubits, _rho, _t in op.carry))

    def _arrival_ps(self, node: _Node, dest: int, extra_delay_ps: int) -> int:
        source = node.index
        if dest == source:
            return node.now_ps + extra_delay_ps
        latency = self._latencies.get(source * self._num_nodes + dest)
        if latency is None:
            if not 0 <= dest < self._num_nodes:
                raise EngineError(f"node {node.name}: message to unknown node index {dest}")
            latency = self._latencies[source * self._num_nodes + dest] = self._latency(source, dest)
        return node.now_ps + latency + extra_delay_ps

    def _send(self, node: _Node, dest: int, tag, payload, extra_delay_ps: int, quiet_ps: int = 0) -> int:
        if self._quiet_ps:
            self._broke_quiet(node, f"sent message {tag!r}")
        source = node.index
        latency = self._latencies.get(source * self._num_nodes + dest) if dest != source else None
        if latency is None:
            arrival = self._arrival_ps(node, dest, extra_delay_ps)
        else:  # self._arrival_ps, its common case inlined
            arrival = node.now_ps + latency + extra_delay_ps
        if arrival > PROTOCOL_CLOCK_LIMIT_PS:
            self.refuse_past_clock(source, arrival, f"node {node.name}'s message {_short_repr(tag)} to "
                                   f"{self.network.names[dest]} would arrive at")
            return arrival
        node.counter += 1
        if quiet_ps <= arrival:
            quiet_ps = 0
        self.stats.num_messages += 1
        rank = self._rank_at[dest]
        if rank == self._rank:
            msg = _new(Message)
            msg.__dict__.update(source=source, dest=dest, tag=tag, payload=payload, sent_ps=node.now_ps,
                                arrival_ps=arrival, origin_counter=node.counter)  # (see _new)
            if quiet_ps:
                msg.__dict__["quiet_ps"] = quiet_ps
            entry = (arrival, source, node.counter, "deliver", msg)  # self._enqueue(receiver, entry), inlined
            receiver = self.nodes[dest]
            queue = receiver.queue
            heappush(queue, entry)
            if queue[0] is entry and receiver.blocked_by is None:
                heappush(self._ready, (arrival, dest))
        else:
            if arrival < self._horizons[rank]:
                raise EngineError(
                    f"message {tag!r} from {node.name} to {self.network.names[dest]} would arrive at {arrival} ps, "
                    f"before {self._horizons[rank]} ps, which rank {rank} may already have passed: its latency "
                    "is shorter than the shortest path of links between them"
                )
            self._outbox[rank].append(_wire_message(source, dest, tag, payload, node.now_ps, arrival, node.counter,
                                                    quiet_ps))
            self.stats.num_cross_rank_messages += 1
            # the earliest a reply can be back on this rank
            back = (max(arrival, quiet_ps) if QUIET_MESSAGES else arrival) + self._dist_home[dest]
            if back < self._send_limit:
                self._send_limit = back
            if back < self._send_limit_posted:
                self._send_limit_posted = back
        return arrival

    def _broadcast(self, node: _Node, dests: Iterable[int], tag, payload, quiet_ps: int = 0) -> None:
        """:meth:`_send` of one message to each of ``dests`` in turn, its common case inlined in one loop."""
        if self._quiet_ps:
            self._broke_quiet(node, f"sent message {tag!r}")
        source, now = node.index, node.now_ps
        base = source * self._num_nodes
        if source not in self._latency_rows and isinstance(dests, Sized) and 16 * len(dests) >= self._num_nodes:
            self._fill_latency_row(source)  # a first broadcast to many nodes
        latencies, rank_of_node, own_rank, nodes, ready = (self._latencies, self._rank_at, self._rank,
                                                            self.nodes, self._ready)
        outbox, horizons, dist_home = self._outbox, self._horizons, self._dist_home
        stats = self.stats
        # the wire form's payload fields (see _wire_message), the same for every message
        wired, bits = (payload.key, (payload.bits,)) if type(payload) is Outcome else (payload, None)
        room = PROTOCOL_CLOCK_LIMIT_PS - now  # the longest latency that keeps a message within the clock limit
        for dest in dests:
            latency = latencies.get(base + dest) if dest != source else None
            rank = rank_of_node[dest] if latency is not None else None
            if rank is None or latency > room or (rank != own_rank and now + latency < horizons[rank]):
                # a first message to dest, to itself, past the clock limit or an error
                self._send(node, dest, tag, payload, 0, quiet_ps)
                continue
            arrival = now + latency
            node.counter += 1
            stats.num_messages += 1
            if rank == own_rank:
                msg = _new(Message)
                msg.__dict__.update(source=source, dest=dest, tag=tag, payload=payload, sent_ps=now,
                                    arrival_ps=arrival, origin_counter=node.counter)  # (see _new)
                if quiet_ps > arrival:
                    msg.__dict__["quiet_ps"] = quiet_ps
                entry = (arrival, source, node.counter, "deliver", msg)
                receiver = nodes[dest]
                queue = receiver.queue
                heappush(queue, entry)
                if queue[0] is entry and receiver.blocked_by is None:
                    heappush(ready, (arrival, dest))
            else:  # to another rank: in the wire form at once (_wire_message, inlined)
                outbox[rank].append((source, dest, tag, wired, now, arrival, node.counter, bits,
                                     quiet_ps if quiet_ps > arrival else 0))
                stats.num_cross_rank_messages += 1
                # the earliest a reply can be back on this rank
                back = (max(arrival, quiet_ps) if QUIET_MESSAGES else arrival) + dist_home[dest]
                if back < self._send_limit:
                    self._send_limit = back
                if back < self._send_limit_posted:
                    self._send_limit_posted = back

    def _broke_quiet(self, node: _Node, what: str) -> None:
        """Raise: the handling of a quiet message did ``what`` before its ``quiet_ps`` (see :meth:`NodeContext.broadcast`)."""
        quiet_ps, self._quiet_ps = self._quiet_ps, 0
        raise EngineError(f"node {node.name} {what} at {node.now_ps} ps while handling message {self._quiet_tag!r}, "
                          f"whose sender promised that its handling causes nothing before {quiet_ps} ps "
                          "(quiet_until_ps of ctx.broadcast)")

    def refuse_past_clock(self, node: int, time_ps: int, what: str, advice: str | None = None) -> None:
        """Refuse the run: something of ``node`` would reach ``time_ps``, past the clock limit.

        Nothing is raised here, on the one rank that found it: the run is
        refused as after a user error in a process (:meth:`refuse_after_error`,
        which says how every rank then raises the same line), with
        :class:`ClockLimitError`. Called by the engine for every event it would
        schedule past the limit (a :class:`Wait`, a message's arrival, a
        spawn); a protocol calls it through :meth:`NodeContext.check_clock`
        where it can name the key that set the time better than the engine can.

        Args:
            node: the node's index.
            time_ps: the time it would reach, ps.
            what: the start of the message, completed by :func:`clock_refusal`.
            advice: which job keys to change (``None``: the run's ``clock_advice``).
        """
        self._refuse(node, clock_refusal(what, time_ps, advice or self.clock_advice), ClockLimitError, None)

    def refuse_after_error(self, node: _Node, error: DqsimError) -> None:
        """Refuse the run: a step of ``node`` (its process, or the engine acting on its command) raised ``error``.

        Nothing is raised here, on the one rank that found it: this rank runs
        no more events (its ``_send_limit`` drops to ``-inf``) and reports the
        refusal at the next exchange, which is a collective already, or at the
        run's end (:meth:`_end_parts`). There every rank takes the earliest
        refusal any rank reported (:func:`_earliest_refusal`: by the simulated
        time of the event that found it, then by node, then in the order this
        rank found them); once no rank can find an earlier one
        (:meth:`_await_refusal`) every rank raises it, with its class and its
        one-line message, so the run ends alike on every rank and on any
        number of ranks: the command line prints the line once, exit status
        2, no ``MPI_Abort``. The rank that found it raises ``error``
        itself; the others an exception of its class with its message
        (:func:`dqsim.comm.error_like`). Before a checkpoint every rank agrees on
        refusals first (:meth:`_agree_on_refusal`): a refused run is never
        saved.

        Args:
            node: the node whose step raised.
            error: the exception (a :class:`~dqsim.errors.DqsimError`: a user error, not a bug).
        """
        self._quiet_ps = 0  # (the step may have been a quiet message's handling)
        self._refuse(node.index, str(error), type(error), error)

    def _refuse(self, node: int, message: str, kind: type, error: DqsimError | None) -> None:
        """Keep a refusal of the run (:meth:`refuse_after_error`) if it is this rank's earliest; run no more events.

        The refusal is ``(time_ps, node, order, message, kind)``: the time of
        the node's current event, ps, its index, how many refusals this rank
        had found before, the one line and the error's class (one every rank
        can import: else :class:`~dqsim.errors.DqsimError`).
        """
        record = self.nodes[node]
        found_ps = record.now_ps if record is not None else 0
        refusal = (int(found_ps), int(node), self._refusals_found, message, error_class(kind))
        self._refusals_found += 1
        if self._refusal is None or refusal[:3] < self._refusal[:3]:
            self._refusal, self._refused_error = refusal, error
        self._send_limit = self._send_limit_posted = -math.inf  # _run_local runs nothing more

    def _raise_refusal(self, refusal: tuple | None) -> None:
        """Raise the run's refusal on every rank when an exchange (or the run's end) reported one.

        ``refusal`` is the same on every rank (:func:`_earliest_refusal` of every rank's). The rank that found it
        raises the error itself; the others one like it (:func:`dqsim.comm.error_like`).
        """
        if refusal is not None:
            if self._refused_error is not None and self._refusal is not None and self._refusal[:3] == refusal[:3]:
                raise self._refused_error
            raise error_like(refusal[4], refusal[3])

    def _await_refusal(self, refusal: tuple, infos: Sequence[tuple], earliest: Sequence[float],
                       handed: Sequence[float]) -> None:
        """Raise ``refusal`` (the earliest any rank reported at this exchange) once no rank can find an earlier one.

        A rank that has not refused the run may still have events at or
        before the refusal's time ``t`` (the exchange came before it got
        there), and one of them may raise a user error earlier in the
        run's order, the one a run on one rank raises. So every rank raises
        ``refusal`` only when each rank that has not refused has no event
        left at or before ``t`` (its earliest event, messages just handed
        to it included, is later); until then those ranks run their events
        up to ``t`` and no further (:meth:`_run` caps them at ``t + 1``) and
        report what they find at the next exchanges. A refused rank runs
        nothing more (it resumes no process either) and counts as past
        every time: it posts no events and no promises (:meth:`_post_exchange`),
        so it holds no rank back. Every rank decides from the same parts:
        the same exchange raises on every rank.
        """
        time_ps = refusal[0]
        if all(info[-1] is not None or first_ps > time_ps and arrival_ps > time_ps
               for info, first_ps, arrival_ps in zip(infos, earliest, handed)):
            self._raise_refusal(refusal)
        self._pending_refusal = refusal

    def _agree_on_refusal(self) -> None:
        """Collective: raise the run's refusal on every rank when any rank has refused the run.

        Before a checkpoint is written: a refusal found since the last exchange (in the checkpoint's flush, or
        while that exchange was in flight) would otherwise be saved without the event it dropped, and the
        resumed run would go on. One small all-gather per checkpoint.
        """
        refusals = self.comm.allgather(self._refusal) if self.comm.size > 1 else [self._refusal]
        self._raise_refusal(_earliest_refusal(refusals))

    # ---------------------------------------------------------- stepping
    def _step(self, node: _Node, process: ProcessHandle, value) -> None:
        """Resume ``process`` with ``value`` and act on the command it yields.

        A measurement of local small states is resolved at once and the
        process continues in the same step, exactly as a measurement resolved
        by a flush resumes it (no event in between).

        A :class:`~dqsim.errors.DqsimError` raised in the step (by the process,
        or by the engine for a rule it broke) is caught by the caller (the
        event loop, :meth:`_run_local`, or a flush's resumption), which hands
        it to :meth:`refuse_after_error` instead of raising it on this rank
        alone; any other exception (a bug) propagates.
        """
        while True:
            self._current = process
            generator = process.generator
            try:
                if generator is not None and process.log is None:  # the common case, without send's bookkeeping
                    command = generator.send(value)
                else:
                    command = process.send(value)
            except StopIteration:
                self._current = None
                self._forget(node, process)
                return
            except BaseException:
                self._current = None
                raise
            self._current = None
            kind = type(command)
            if kind is not Wait and kind is not Receive and kind is not MeasureCmd:
                # a subclass of a command takes its base's path
                kind = next((base for base in _COMMANDS if isinstance(command, base)), None)
            if kind is Wait:  # self._resume_later(node, now + delay, process, None), inlined
                time_ps = node.now_ps + command.delay_ps
                if self._quiet_ps and time_ps < self._quiet_ps:
                    self._broke_quiet(node, f"waits until {time_ps} ps")
                if time_ps > PROTOCOL_CLOCK_LIMIT_PS:  # the process is never resumed: the run stops
                    self.refuse_past_clock(node.index, time_ps, f"node {node.name} would wait until")
                    return
                node.counter += 1
                heappush(node.queue, (time_ps, node.index, node.counter, "resume", (process, None)))
            elif kind is Receive:
                tag = command.tag
                box = node.mailbox.get(tag)
                count = command.count
                if count is not None:  # a list of messages: at once if they are all here, else when the last comes
                    if box is not None and len(box) >= count:
                        value = _take_messages(node.mailbox, tag, box, count)
                        continue
                    entry = (process, count) if not command.service else (process, count, True)
                    waiting = node.waiting.get(tag)
                    if waiting is None:
                        node.waiting[tag] = [entry]
                    else:
                        waiting.append(entry)
                elif box:
                    if self._quiet_ps:
                        self._broke_quiet(node, f"takes message {tag!r} from its mailbox")
                    msg = box.pop(0)
                    if not box:  # no empty lists left behind: one tag per exchange would pile up
                        del node.mailbox[tag]
                    self._resume_later(node, node.now_ps, process, msg)
                else:
                    # a waiter is its process; (process, None, True) for a service receive (see _deliver_counted)
                    entry = process if not command.service else (process, None, True)
                    waiting = node.waiting.get(tag)
                    if waiting is None:
                        node.waiting[tag] = [entry]
                    else:
                        waiting.append(entry)
            elif kind is MeasureCmd:
                op, outcome, applied = self._issue(node, "measure", command.qubits, command.basis,
                                                   command.error_probability)
                if applied:  # a local small state: the outcome is known now
                    value = outcome
                    continue
                if self._quiet_ps:
                    self._broke_quiet(node, "waits for a measurement")
                node.blocked_by = (process, op)
                heappush(self._blocked, (op.time_ps, node.index))
                self._num_blocks += 1
            elif kind is MeasureLater or kind is ReadOutcomes:
                value = self._later_command(node, process, command, kind)
                if value is not None:
                    continue
            else:
                raise EngineError(f"node {node.name}: a process yielded {command!r}, not a command")
            return

    @staticmethod
    def _forget(node: _Node, process: ProcessHandle) -> None:
        """``process`` has ended: done, and off its node's processes unless its class keeps it (``kept_after_end``).

        The node's processes are a dict in start order (``_Node.processes``), so this takes O(1): a list's
        ``remove`` searched it, quadratic in a node's processes (a 65,536-node ``[qkd.network]`` star's hub, one
        process per link: 308 CPU s on one rank against a chain's 104-106, ``bench/results/qkdstar-vm-20261207s.md``).
        """
        process.done = True
        if not process.resumable or not process.process.kept_after_end:
            del node.processes[process]

    def _end_process(self, node: _Node, process: ProcessHandle) -> None:
        """End a process that waits for a message (:meth:`NodeContext.discard`): as if it had returned."""
        if process.generator is not None:
            process.generator.close()
        self._forget(node, process)

    def _later_command(self, node: _Node, process: ProcessHandle, command, kind):
        """A :class:`MeasureLater` or :class:`ReadOutcomes`: the value to resume with, or ``None`` (blocked).

        A shared measurement is marked ``later`` in the buffer, so that every
        rank keeps its outcome when a flush applies it (:meth:`_resolve`). A
        read of bits not known yet blocks the node at its current time, as a
        pending measurement does, until a flush has applied them all.
        """
        if kind is MeasureLater:
            op, outcome, applied = self._issue(node, "measure", command.qubits, command.basis,
                                               command.error_probability)
            if applied:
                return Outcome((node.now_ps, node.index, node.seq), tuple(outcome))
            self._buffer[-1] = op = op.replaced(later=True)
            return Outcome(op.key)
        bits = self._read(command.outcomes)
        if bits is not None:
            return bits
        self._check_outcomes(node, process, command.outcomes)
        if self._quiet_ps:
            self._broke_quiet(node, "waits for measurement outcomes")
        node.blocked_by = (process, QOp(node.now_ps, node.index, node.seq, "read", (), command.outcomes))
        heappush(self._blocked, (node.now_ps, node.index))
        self._num_blocks += 1
        self._readers.append(node.index)
        return None

    def _check_outcomes(self, node: _Node, process: ProcessHandle, outcomes) -> None:
        """Refuse a read of an outcome no measurement made, where that is known at once.

        An :class:`Outcome` comes from a :class:`MeasureLater` that its node
        yielded, before any process could hold it; so its key ``(time, node,
        seq)`` names a node of the network at a time no later than the
        reader's clock. One that does not (made up through the Python API)
        would block the node for ever. Other unknown outcomes end the run
        once no rank can run an event (:class:`StuckProcessError`): what a
        node's own rank knows of its measurements is not looked at here, so
        that the line is the same on any number of ranks.

        Raises:
            EngineError: such an outcome (the run is refused, :meth:`refuse_after_error`).
        """
        known, nodes = self._later, self.nodes
        for outcome in outcomes:
            if outcome.bits is not None or outcome.key in known:
                continue
            key = outcome.key
            if not (type(key) is tuple and len(key) == 3 and all(isinstance(k, (int, np.integer)) for k in key)
                    and 0 <= key[1] < self._num_nodes and key[0] <= node.now_ps):
                raise EngineError(f"node {node.name}: process {process.name} reads outcome {_short_repr(key)} at "
                                  f"{node.now_ps} ps, which no measurement made; read only the Outcome that "
                                  "yielding ctx.measure_later(...) returns")

    def _read(self, outcomes) -> list | None:
        """The bits of every outcome, or ``None`` while some are not known on this rank."""
        known = self._later
        bits = [o.bits if o.bits is not None else known.get(o.key) for o in outcomes]
        return None if any(b is None for b in bits) else bits

    def _wake_readers(self) -> None:
        """Resume the nodes whose :class:`ReadOutcomes` can be answered now (none on a refused rank)."""
        if self._refusal is not None:
            return
        waiting, self._readers = self._readers, []
        known, unread = self._later, self._unread
        for index in waiting:
            node = self.nodes[index]
            process, marker = node.blocked_by
            # only the outcomes still unknown at the last look are looked at again (a chain's end node reads
            # ~1,000, of which a few wait for a flush)
            missing = unread.pop(index, None)
            if missing is None:
                missing = [o.key for o in marker.payload if o.bits is None]
            missing = [key for key in missing if key not in known]
            if missing:
                unread[index] = missing
                self._readers.append(index)
                continue
            bits = self._read(marker.payload)
            node.blocked_by = None
            try:
                self._step(node, process, bits)
            except DqsimError as error:  # (see _step; a refused rank resumes nothing more)
                self.refuse_after_error(node, error)
                return
            if node.queue and node.blocked_by is None:
                heapq.heappush(self._ready, (node.queue[0][0], node.index))

    def _blocked_bound_ps(self, index: int, waits: list) -> float:
        """The earliest time node ``index`` may be influenced by this rank's blocked nodes, ps.

        The least ``t + d(b, index)`` over the blocked nodes ``b`` (``t``: the
        time ``b`` waits at; ``d``: the least delay of links between them),
        since a blocked node resumes at ``t`` and reaches others only through
        messages. ``waits`` caches ``(t, d(b, ·))`` of the blocked nodes for
        one :meth:`_run_local` call: ``[blocks counted, pairs]`` (built again
        when a node blocks; none is resumed during the call).
        """
        blocked = self._blocked
        if waits[0] != self._num_blocks:
            pairs, nodes, seen = [], self.nodes, set()
            for time_ps, blocked_index in blocked:
                node = nodes[blocked_index]
                if node.blocked_by is None or node.blocked_by[1].time_ps != time_ps or blocked_index in seen:
                    continue  # (stale)
                seen.add(blocked_index)
                distances = self._node_distances.get(blocked_index)
                if distances is None:
                    distances = self._node_distances[blocked_index] = self.network.least_delay_column(  # (8 B a node)
                        blocked_index)
                pairs.append((time_ps, distances))
            waits[0], waits[1] = self._num_blocks, pairs
        return min([time_ps + distances[index] for time_ps, distances in waits[1]], default=math.inf)

    def _held_at(self, held: tuple) -> tuple:
        """``held`` (the earliest blocked node's ``(time, node)``), or an unblocked node with an event left at
        that time and a lower index, when one is (the least such).

        What :func:`_last_passed` reads as the point up to which this rank has
        issued its operations at that time. Without :data:`RUN_PAST_BLOCKED`
        there is none: events run in ``(time, node)`` order, so the node's
        events at that time ran before the blocked one's. With it, a node
        that was held (by a node blocked earlier, since resumed) may have one
        left. Only called when this rank's earliest event is that time.
        """
        time_ps, least = held
        nodes = self.nodes
        for head_ps, index in self._ready:
            if head_ps == time_ps and index < least:
                node = nodes[index]
                if node.blocked_by is None and node.queue and node.queue[0][0] == head_ps:
                    least = index
        return (time_ps, least)

    def _earliest_blocked_ps(self) -> float:
        """The earliest pending measurement time of a blocked local node (``inf``: none)."""
        blocked = self._blocked
        while blocked:
            time_ps, index = blocked[0]
            node = self.nodes[index]
            if node.blocked_by is not None and node.blocked_by[1].time_ps == time_ps:
                return time_ps
            heappop(blocked)
        return math.inf

    def _run_local(self, horizon: float, budget: int, deadline_cpu_s: float = math.inf,
                   release_ps: float = math.inf, idle_peers: Sequence[int] = (), flight=None, look=None) -> None:
        """Run this rank's events before ``horizon`` until every node is blocked or idle, or ``budget`` ran
        (and every other event of the last one's time: the run then stops between two instants, so the exchange
        after it can end at a checkpoint's cut, :meth:`_at_cut`).

        Also stop, after at least one event, once ``time.process_time()``
        reaches ``deadline_cpu_s`` (:data:`EXCHANGE_CPU_S`), before an event
        later than ``release_ps``, and after an event that sent a message to
        a rank of ``idle_peers`` (both from :meth:`_starved_peers`: what
        another rank that can run nothing waits for), and once the exchange
        in flight ``flight`` (a started all-to-all, looked at before the first
        event and every ``POLL_EVENTS`` events) has come. Where the run stops
        changes no result, only when the next exchange comes.

        ``look`` (one rank with a checkpointer; :meth:`Checkpointer.looker
        <dqsim.engine.checkpoint.Checkpointer.looker>`) is asked before each
        event later than every event run whether a checkpoint is asked for;
        where it is and no node waits for a flush, that is a cut (as
        :meth:`_at_cut` finds after an exchange on one rank): the call stops
        there, ``_cut_left`` set to the budget it had left, for :meth:`_run`
        to write the checkpoint and go on with the rest of the budget (no
        exchange: the same iterations as a run without the request). Where a
        node waits, only an exchange's flush can make a cut: no more looks.

        Events run in ``(time, node)`` order over this rank's nodes (a heap of
        queue heads). While some node of this rank waits for a flush to
        resolve its measurement at time ``t``, only events before ``t`` run
        (with :data:`RUN_PAST_BLOCKED`: each node's events before ``t`` plus
        its least delay from the waiting node; a node past that is held until
        the next call): so no node receives a message in its past, and
        operations on local small states are applied in the global
        ``(time, node, seq)`` order.
        (No message of another rank arrives before ``horizon``: see :meth:`run`;
        nor a reply to a message this rank sends meanwhile: each such message
        lowers ``_send_limit`` to its arrival plus the shortest path back.)
        """
        ready, nodes, blocked, step = self._ready, self.nodes, self._blocked, self._step
        last = self._last_event_ps
        allowed = budget
        timed = deadline_cpu_s < math.inf
        watched = [self._outbox[r] for r in idle_peers]
        poll = 0
        held: list = []  # ready entries of nodes that wait for a blocked node of this rank (RUN_PAST_BLOCKED)
        # _blocked_bound_ps's cache, then the blocks counted and the earliest blocked node's time then
        waits = self._ahead_waits = [-1, [], -1, math.inf]
        if flight is not None:
            if flight.test():
                return
            poll = POLL_EVENTS
        current = -1  # the time of the latest event run in this call
        try:
            while ready:
                top = ready[0]
                time_ps, index = top
                node = nodes[index]
                queue = node.queue
                if node.blocked_by is not None or not queue or queue[0][0] != time_ps:
                    heappop(ready)  # stale: the node blocked, or its head changed (a fresh entry exists)
                    continue
                if budget <= 0 and time_ps > current:  # the budget is spent: stop, but not inside one instant
                    break
                if budget < allowed and (time_ps > release_ps or (
                        timed and time.process_time() >= deadline_cpu_s)):
                    break
                if time_ps >= horizon or time_ps >= self._send_limit:
                    break
                if look is not None and time_ps > last and look():  # a checkpoint asked for, between two instants
                    if held or self._earliest_blocked_ps() < math.inf:  # a node waits for a flush: no cut here
                        look = None
                    else:
                        self._cut_left = budget
                        break
                if blocked:
                    if waits[2] != self._num_blocks:  # a node blocked since the last look (none resumes here)
                        waits[2], waits[3] = self._num_blocks, self._earliest_blocked_ps()
                    if time_ps >= waits[3]:
                        if not RUN_PAST_BLOCKED:
                            break
                        if time_ps >= self._blocked_bound_ps(index, waits):
                            held.append(heappop(ready))  # this node waits; others may run on
                            continue
                        self._ahead_ps = time_ps  # (for _is_local while this event runs)
                # the event: the node's clock moves to it; a resumption steps its process, a message
                # steps the first process waiting for its tag or goes to the mailbox
                _time, _origin, _counter, action, arg = heappop(queue)
                node.now_ps = time_ps
                if action == "resume":
                    step(node, arg[0], arg[1])  # arg = (process, value)
                else:  # deliver; arg: the Message
                    tag = arg.tag
                    waiters = node.waiting.get(tag)
                    if waiters:
                        if arg.quiet_ps > time_ps:  # a quiet message: its handling causes nothing before then
                            self._quiet_ps, self._quiet_tag = arg.quiet_ps, tag
                        process = waiters[0]
                        if type(process) is tuple:  # (process, count[, True]): several messages, or a service receive
                            self._deliver_counted(node, tag, arg, waiters)
                        else:
                            del waiters[0]
                            if not waiters:  # no empty lists left behind: one tag per exchange would pile up
                                del node.waiting[tag]
                            step(node, process, arg)
                        self._quiet_ps = 0
                    else:
                        box = node.mailbox.get(tag)
                        if box is None:
                            node.mailbox[tag] = [arg]
                        else:
                            box.append(arg)
                budget -= 1
                current = time_ps
                self._ahead_ps = -1
                if time_ps > last:
                    last = time_ps
                # this node's entry leaves the ready heap and its new head joins it, in one sift when the
                # entry is still on top (else it stays behind, stale, and is dropped when it surfaces)
                if queue and node.blocked_by is None:
                    if ready[0] is top:
                        heapreplace(ready, (queue[0][0], index))
                    else:
                        heappush(ready, (queue[0][0], index))
                elif ready[0] is top:
                    heappop(ready)
                if watched and any(watched):  # a rank with nothing to do has a message now: let it have it
                    break
                if poll:
                    poll -= 1
                    if not poll:
                        if flight.test():
                            break
                        poll = POLL_EVENTS
        except DqsimError as error:  # a user error in this event's step: every rank raises it (see _step)
            self.refuse_after_error(node, error)
        finally:
            self._ahead_ps = -1
            for entry in held:
                heappush(ready, entry)
            self.stats.num_events += allowed - budget
            self._last_event_ps = last

    def _deliver_counted(self, node: _Node, tag, msg: Message, waiters: list) -> None:
        """Deliver ``msg`` to a node whose first waiter for ``tag`` is a tuple: ``(process, count)``, a
        :class:`Receive` of several messages, or ``(process, count, True)``, a service receive.

        The message joins the mailbox; once it holds the ``count`` the waiter
        asked for, the waiter resumes with them (in arrival order). A service
        receive of one message (``count`` ``None``) resumes with ``msg``.
        """
        if waiters[0][1] is None:
            process = waiters[0][0]
            del waiters[0]
            if not waiters:
                del node.waiting[tag]
            self._step(node, process, msg)
            return
        mailbox = node.mailbox
        box = mailbox.get(tag)
        if box is None:
            box = mailbox[tag] = [msg]
        else:
            box.append(msg)
        process, count = waiters[0][0], waiters[0][1]
        if len(box) < count:
            return
        del waiters[0]
        if not waiters:
            del node.waiting[tag]
        self._step(node, process, _take_messages(mailbox, tag, box, count))

    def _resume_blocked(self, node: _Node, op: QOp, outcome) -> None:
        if self._refusal is not None:  # a refused rank resumes nothing (see _await_refusal)
            return
        process, pending_op = node.blocked_by
        if pending_op != op:  # (an engine bug; refused, not raised: this rank alone finds it, in a flush)
            self._refuse(node.index, f"node {node.name}: measurement {op.key} resolved while it waits for "
                                     f"{pending_op.key}", EngineError, None)
            return
        node.blocked_by = None
        node.now_ps = op.time_ps
        try:
            self._step(node, process, outcome)
        except DqsimError as error:  # (see _step)
            self.refuse_after_error(node, error)
            return
        if node.queue and node.blocked_by is None:
            heapq.heappush(self._ready, (node.queue[0][0], node.index))

    # ------------------------------------------------------------ flushing
    def _frontier(self) -> tuple[float, float]:
        """This rank's earliest unprocessed event and earliest pending measurement, ps (``inf``: none).

        A blocked node counts at its measurement time, or its queue head if
        earlier. Stale heads of the ready heap are dropped on the way.
        """
        blocked_ps = self._earliest_blocked_ps()
        if blocked_ps == math.inf:
            return self._earliest_ready_ps(), blocked_ps
        return min([n.queue[0][0] for n in self.local if n.queue] + [blocked_ps]), blocked_ps

    def _earliest_ready_ps(self) -> float:
        """The earliest queued event of this rank's unblocked nodes (``inf``: none); drops stale heap heads."""
        ready, nodes = self._ready, self.nodes
        while ready:
            time_ps, index = ready[0]
            node = nodes[index]
            if node.blocked_by is None and node.queue and node.queue[0][0] == time_ps:
                return time_ps
            heappop(ready)
        return math.inf

    def _promises(self, earliest: float) -> list[float]:
        """The earliest time at which anything this rank does can reach each rank, ps (``inf``: never).

        For rank ``r``: the least ``t + d(n, r)`` over this rank's pending
        events (time ``t`` at node ``n``; ``d`` from
        :meth:`~dqsim.network.network.Network.rank_distances_ps`; none for
        ``r`` itself, which its own nodes do not bound) and over the messages
        about to leave (arrival ``a`` at node ``m``: ``a + d(m, r)``, this
        rank included: a reply to them may come back). Every later event of
        this rank descends from one of these, and messages travel no faster
        than the shortest path, so no message reaches ``r`` sooner. A
        message's own destination rank is left out of its term (there
        ``d = 0``): the exchange hands the message over, so it is that rank's
        own event, and what follows from it is that rank's to bound (its
        ``_send_limit`` for replies; the message's arrival counts in its
        progress, see :meth:`_exchange`). With the term, the destination
        could not run the message in the window it arrives in: one more
        exchange per message between ranks.

        Local nodes are visited in order of their distance to ``r`` and the
        visit stops once ``earliest + d`` (``earliest``: this rank's earliest
        event) cannot beat the best found: nodes far from every other rank
        cost nothing. When few nodes have work (at most
        ``_FEW_BUSY_NODES`` entries in the ready and blocked heaps, which
        hold every node with a queued event or a pending measurement), only
        those are visited: a rank whose nodes near the others are idle would
        otherwise walk all of them (a chain's far rank, between pairs: 0.01 s
        of a 1,024-node run). Both ways give the same least value.
        """
        nodes, promises = self.nodes, []
        busy = None
        if len(self._ready) + len(self._blocked) <= _FEW_BUSY_NODES:
            busy = {index for _time, index in self._ready}
            busy.update(index for _time, index in self._blocked)
        dist = self._dist
        floor = earliest  # no node's term is earlier: raised at the first quiet head found (see _quiet_floor_ps)
        for rank, order in enumerate(self._by_distance):
            best = math.inf
            if order is None:
                pairs = ()
            elif busy is not None:
                column = dist[rank]
                pairs = sorted((column[index], index) for index in busy if column[index] < _UNREACHABLE)
            else:  # (distance, index), nearest first
                pairs = zip(map(dist[rank].__getitem__, order), order)
            for distance, index in pairs:
                if floor + distance >= best:
                    break
                node = nodes.get(index)
                if node is None:  # (no record: nothing to do, no term)
                    continue
                queue = node.queue
                head = queue[0][0] if queue else math.inf
                if queue and queue[0][3] == "deliver" and queue[0][4].quiet_ps > head and QUIET_MESSAGES:
                    head = _quiet_head_ps(queue)
                    if floor == earliest:
                        floor = self._quiet_floor_ps()
                if node.blocked_by is not None:
                    head = min(head, node.blocked_by[1].time_ps)
                if head + distance < best:
                    best = head + distance
            promises.append(best)
        for dest_rank, messages in enumerate(self._outbox):  # (wire tuples: see _wire_message)
            if not messages:
                continue
            for rank in range(len(promises)):  # one pass per rank (a broadcast puts hundreds here)
                if rank != dest_rank:
                    column = dist[rank]
                    reach = (min([max(arrival, quiet) + column[dest]
                                  for _s, dest, _t, _p, _sent, arrival, _c, _o, quiet in messages])
                             if QUIET_MESSAGES else
                             min([arrival + column[dest] for _s, dest, _t, _p, _sent, arrival, *_rest in messages]))
                    if reach < promises[rank]:
                        promises[rank] = reach
        return [math.inf if value >= _UNREACHABLE else value for value in promises]

    def _quiet_floor_ps(self) -> float:
        """The least term any local node can give a promise, quiet messages counted at their quiet time, ps.

        A node's term is its earliest event, a quiet message at its head
        counting at its ``quiet_ps`` (:func:`_quiet_head_ps`), or its pending
        measurement. With quiet messages waiting at many nodes (a notice
        spreading down a chain) :meth:`_promises` would otherwise visit every
        node, its early stop bounded by the earliest real event; one look at
        the heads of the ready heap (stale entries only lower the floor) and
        the blocked nodes gives a bound that stops it at the nearest one.
        """
        nodes, floor = self.nodes, self._earliest_blocked_ps()
        for time_ps, index in self._ready:
            if time_ps < floor:
                queue = nodes[index].queue
                entry = queue[0] if queue else None
                if entry is None or entry[0] != time_ps or entry[3] != "deliver" or not entry[4].quiet_ps:
                    floor = time_ps  # (a stale entry: conservative)
                else:  # (one entry, the common case: _quiet_head_ps's own, without the call)
                    quiet_ps = entry[4].quiet_ps if len(queue) == 1 else _quiet_head_ps(queue)
                    if quiet_ps < floor:
                        floor = quiet_ps
        for _time_ps, index in self._blocked:  # a blocked node's queue (its measurement is in the floor already)
            queue = nodes[index].queue
            if queue and queue[0][0] < floor:
                floor = queue[0][0]
        return floor

    def _exchange(self) -> "_Exchange":
        """Collective: the one exchange of an iteration of :meth:`run`, posted and completed at once (lockstep).

        Every rank sends every other rank, in one all-to-all, its new
        shared operations, the messages for that rank, what it promises
        each rank (:meth:`_promises`), its earliest unprocessed event and
        pending measurement, its latest processed event, its ``work_done``
        and its checkpoint requests (:meth:`_post_exchange`). From these every
        rank computes the same horizons (how far each rank may run) and
        progress (up to what time each rank has issued all its operations),
        then resolves every pending measurement that every rank has passed
        (:meth:`_complete_exchange`, :meth:`_resolve`).
        """
        return self._complete_exchange(self._post_exchange())

    def _post_exchange(self) -> "_Posted":
        """Collective, non-blocking: send this rank's part of the next exchange (see :meth:`_exchange`).

        What it sends describes this rank now; the buffer of new shared
        operations and the outboxes start empty again (what the rank does
        before :meth:`_complete_exchange` goes to the exchange after).
        """
        started = time.perf_counter()
        comm, size, rank = self.comm, self.comm.size, self._rank
        work = tuple(map(int, self.work_done())) if self.work_done is not None else None
        flags = self.checkpointer.requested() if self.checkpointer is not None else (False, False)
        earliest, blocked_ps = self._frontier()
        if self._refusal is not None:  # a refused rank runs nothing more: it holds no rank back (_await_refusal)
            earliest = blocked_ps = math.inf
        # (time, node) of the earliest blocked node (the head of _blocked, valid after _frontier): see _resolve
        held = self._blocked[0] if blocked_ps < math.inf else (math.inf, 0)
        if RUN_PAST_BLOCKED and earliest == blocked_ps < math.inf:  # (else held is not read: see _last_passed)
            held = self._held_at(held)
        # The earliest arrival of the messages handed to each rank now: they bound its progress.
        handed = [min([wire[5] for wire in messages], default=math.inf) for messages in self._outbox]  # arrivals
        next_ps = min([earliest, *handed])
        # whether anything happened here since the last posting: an event run, a message or an operation to share
        events = self.stats.num_events
        moved = events != self._events_posted or bool(self._buffer) or min(handed) < math.inf
        self._events_posted = events
        if size > 1:
            promises = self._promises(earliest) if self._refusal is None else [math.inf] * size
            mine = _wire_info(promises, handed, earliest, held, next_ps, self._last_event_ps, flags,
                              work, self._refusal, moved)
            # this rank's own part stays here (None in its slot): not pickled and unpickled for nothing; the
            # messages wait and travel as plain tuples of their fields (_wire_message), shared operations too
            # (wire_ops)
            ops = wire_ops(self._buffer) if self._buffer else []
            handle = comm.start_alltoall([None if r == rank else (ops, self._outbox[r], mine)
                                          for r in range(size)])
            own = (self._buffer, (), mine)
            self._outbox = [[] for _ in range(size)]
        else:
            handle = None
            own = (self._buffer, (), _wire_info((math.inf,), (math.inf,), earliest, held, next_ps,
                                                self._last_event_ps, flags, work, self._refusal, moved))
        self._buffer = []
        self._send_limit_posted = math.inf
        return _Posted(handle, own, work, started)

    def _complete_exchange(self, posted: "_Posted") -> "_Exchange":
        """Collective: wait for the exchange ``posted`` and act on it (see :meth:`_exchange`)."""
        size, rank = self.comm.size, self._rank
        if posted.handle is not None:
            parts = posted.handle.wait()
            if EXCHANGE_CPU_S is not None:  # (only _run's CPU budget reads it; a system call on Linux)
                self._exchanged_cpu_s = time.process_time()
        else:
            parts = [None]
        parts[rank] = posted.own
        horizon = self._horizons[rank]
        nodes, ready = self.nodes, self._ready
        for _ops, messages, _info in parts:
            for source, dest, tag, payload, sent_ps, arrival_ps, origin_counter, outcome, quiet in messages:  # (_wire_message)
                if outcome is not None:  # _wire_outcome(payload, outcome[0]), inlined
                    payload, key = _new(Outcome), payload
                    payload.__dict__.update(key=key, bits=outcome[0])
                if arrival_ps < horizon:  # the lookahead rule, checked on arrival too (an engine bug if broken):
                    # refused, not raised: this rank alone finds it, and the next exchange takes it to every rank
                    self._refuse(dest, f"message {tag!r} arrived at {arrival_ps} ps, before {horizon} ps, which "
                                       "its rank may already have passed", EngineError, None)
                    continue
                msg = _new(Message)  # _message(source, ..., quiet), inlined: ~1 thousand instructions less a message
                msg.__dict__.update(source=source, dest=dest, tag=tag, payload=payload, sent_ps=sent_ps,
                                    arrival_ps=arrival_ps, origin_counter=origin_counter)
                if quiet:
                    msg.__dict__["quiet_ps"] = quiet
                entry = (arrival_ps, source, origin_counter, "deliver", msg)  # self._enqueue(node, entry), inlined
                node = nodes[dest]
                queue = node.queue
                heappush(queue, entry)
                if queue[0] is entry and node.blocked_by is None:
                    heappush(ready, (arrival_ps, dest))
        # per rank r, over every rank's information: the least promise to r is its horizon, and the earliest
        # message handed to r (one transposition of the ranks' flat parts: no list per field and rank)
        operations, _messages, infos = zip(*parts)
        (horizons, handed, earliest, blocked, next_ps, last_ps, write, stop, work, moved,
         refusal) = _info_columns(infos, size)
        if refusal is not None:  # a rank refused the run: every rank stops here once all have passed it
            self._await_refusal(refusal, infos, earliest, handed)
        self._horizons = horizons
        # this rank's messages posted are in its promises now; those sent since (in flight) are not
        self._send_limit = self._send_limit_posted if self._refusal is None else -math.inf
        # A rank has issued every operation before its earliest event, before its horizon and before the
        # messages just handed to it (which its horizon no longer covers: see _promises).
        progress = list(map(min, earliest, horizons, handed))
        if size > 1:
            self._starved_peers(infos[rank][:size], earliest, blocked, horizons, handed, progress[rank])
        resolved = self._resolve([ops if r == rank or not ops else ops_from_wire(ops)
                                  for r, ops in enumerate(operations)],
                                 everything=False, started=posted.started, progress=progress, blocked=blocked)
        fraction = None
        if posted.work is not None:
            done, total = map(sum, zip(*work))
            fraction = float(done) / total if total else 1.0
        exchange = _new(_Exchange)  # (see _new)
        exchange.__dict__.update(resolved=resolved, next_ps=min(next_ps), last_ps=max(last_ps), fraction=fraction,
                                 write=any(write), stop=any(stop), stuck=self._stuck(resolved or any(moved)))
        return exchange

    def _stuck(self, moved: bool) -> bool:
        """Whether no rank can ever run an event again, after an exchange at which something ``moved`` or not.

        ``moved``: some rank ran an event, or had a message or an operation to
        share, since it posted the exchange before (:meth:`_post_exchange`),
        or this exchange resolved a measurement. Two exchanges in a row at
        which nothing moved leave every rank as it was at the first: its
        events, mailboxes, blocked nodes and promises, hence the horizons,
        are the same, and the events it could not run then it cannot run
        now (a node blocked in a :class:`ReadOutcomes` of an outcome no
        measurement will make, and every event held behind it); so no rank
        runs one again. The run then ends (:meth:`_run`), and its end names
        the processes that still wait (:meth:`_end_parts`). Every rank
        decides from the same parts: no collective of its own.
        """
        self._quiet_exchanges = 0 if moved else self._quiet_exchanges + 1
        return self._quiet_exchanges >= 2

    def _starved_peers(self, mine: Sequence[float], earliest: Sequence[float], blocked: Sequence[tuple],
                       horizons: list[float], handed: list[float], progress_ps: float) -> None:
        """Note which other ranks can run nothing after this exchange, and what would let them.

        A rank is *starved* when its earliest event (messages just handed to
        it included) is at or past its horizon, or is a measurement it waits
        for. While one is, the 64-event (or CPU) budget of an iteration
        only makes it wait for nothing: this rank runs up to
        ``EVENTS_PER_EXCHANGE_ONE_RANK`` events instead, but goes to the next
        exchange as soon as it may have freed the starved rank: before an
        event later than ``_release_ps`` (for a rank held by its horizon at
        ``e``: ``e`` minus this rank's least distance to it, past which this
        rank's promise to it exceeds ``e``; for one waiting for a measurement
        at ``t``: ``t``, past which this rank's progress exceeds ``t``), or
        after sending a message to a rank with no event at all
        (``_idle_peers``). Every rank's events, operations and outcomes are
        what they would be with any other stopping point: only the number of
        exchanges changes, and it depends on the run alone (not on timing).
        Only what this rank holds up counts (``progress_ps``: its progress at
        this exchange; its promise against the starved rank's horizon):
        a rank held by a third one is that one's to free. Per rank: ``mine``,
        this rank's promise to it; ``earliest``, its earliest event;
        ``blocked``, the (time, node) of its earliest blocked node;
        ``handed``, the earliest arrival of the messages this exchange hands it.
        """
        release, idle, rank = math.inf, [], self._rank
        for r, first_ps in enumerate(earliest):
            if r == rank:
                continue
            ready_ps = min(first_ps, handed[r])
            held_ps = blocked[r][0]
            if held_ps <= ready_ps:
                if progress_ps <= held_ps:
                    release = min(release, held_ps)
            elif ready_ps >= horizons[r]:
                if ready_ps == math.inf:
                    idle.append(r)
                elif self._nearest[r] < math.inf and mine[r] <= horizons[r]:
                    release = min(release, ready_ps - self._nearest[r])
        self._release_ps, self._idle_peers = release, idle
        self._peers_starved = bool(idle) or release < math.inf

    def _resolve(self, gathered: list, *, everything: bool, started: float, progress: list | None = None,
                 blocked: list | None = None) -> bool:
        """Add every rank's new operations to the pending ones and apply those up to the last measurement every
        rank has passed.

        All of them with ``everything``. Otherwise a measurement at time ``t``
        is resolved once every rank has passed it: its ``progress`` (it has
        issued every operation before that time) is later than ``t``, or
        equal to ``t`` while a node of its own blocked at ``t`` holds it (the
        rule of the lockstep windows this engine had before, so outcomes are
        the same) and the measurement's node comes no later than that node:
        every operation ordered before the measurement is issued. The flush
        resolves every pending measurement that passes (DESIGN.md invariant
        4), in key order with the operations between them: a node a resolved
        measurement resumes was blocked at that measurement's time, which
        bounds its rank's progress, so nothing it issues next can come before
        a later measurement that passed (:func:`_last_passed`), and the order
        of operations is the one a flush per measurement would give. A node
        blocked in a :class:`ReadOutcomes` holds its rank so too, and is
        resumed here once every bit it reads is known. Returns True when a
        measurement was resolved.
        """
        pending, measures, carried, installed = self._pending, self._pending_measures, self._carried, self._installed
        for ops in gathered:
            for op in ops:
                heapq.heappush(pending, (op.key, op))
                if op.kind == "measure":
                    heapq.heappush(measures, op.key)
                for qubits, _rho, _touch in op.carry:
                    for q in qubits:
                        carried[q] = op
        self.stats.num_flushes += 1
        limit = None  # with everything: no limit
        if not everything:
            if measures:
                limit = measures[0] if progress is None else _last_passed(measures, progress, blocked)
            if limit is None:  # no measurement, or none that every rank has passed
                self.stats.flush_seconds += time.perf_counter() - started
                return False
        resolved = False
        state_started = time.perf_counter()
        rank = self.comm.rank
        # groups this flush touches, to hand back to one rank afterwards (see _hand_back); the resumption
        # of a blocked node waits for that, so that it issues its operations on the groups' new tier
        touched = set() if not everything and (self.comm.size > 1 or self._rehome) else None
        resume = []
        state, memory, stats, in_flight = self.state, self.memory, self.stats, self._in_flight
        rank_of_node = self._rank_at
        group_of = memory.small.group_of
        while pending and (limit is None or pending[0][0] <= limit):
            _key, op = heappop(pending)
            own = rank_of_node[op.node] == rank
            self._check_reach(op)
            if touched is not None:
                touched.update(op.qubits)
                for qubits, _rho, _touch in op.carry:
                    touched.update(qubits)
                for q in op.qubits:
                    group = group_of(q)
                    if group is not None:
                        touched.update(group.qubits)
            outcome = apply_qop(state, memory, self._carry_first(op) if carried or installed else op,
                                record_probe=own)
            if rank == 0:  # counted once: the per-rank counts are summed
                stats.num_quantum_ops += 1
            if own:
                for q in self._flight_qubits(op):
                    count = in_flight[q] - 1
                    if count:
                        in_flight[q] = count
                    else:
                        del in_flight[q]
            if op.kind == "measure":
                heappop(measures)
                resolved = True
                if op.later:
                    self._later[op.key] = tuple(outcome)
                elif own:
                    if touched is None:
                        self._resume_blocked(self.nodes[op.node], op, outcome)
                    else:
                        resume.append((op, outcome))
        if touched:
            self._hand_back(touched)
        for op, outcome in resume:
            self._resume_blocked(self.nodes[op.node], op, outcome)
        if self._readers:
            self._wake_readers()
        self.stats.state_seconds += time.perf_counter() - state_started
        self.stats.flush_seconds += time.perf_counter() - started
        return resolved

    def _carry_first(self, op: QOp) -> QOp:
        """``op`` ready to apply: the small states it touches that a later pending operation carries are installed
        first, and a carry installed so is left out of ``op`` (the operation to apply; ``op`` itself stays as it is).

        A carry comes with the first operation its rank issued on that state,
        which is the first in key order except where a node ran past a blocked
        one (:data:`RUN_PAST_BLOCKED`): a node behind it may issue an earlier
        one afterwards. The state is then installed when the earliest
        operation on it is applied. (No shared operation touched it before:
        it was local.)
        """
        carried, memory = self._carried, self.memory
        applied = op
        if op.carry:
            if op.key in self._installed:  # installed already, for an earlier operation
                self._installed.discard(op.key)
                applied = op.replaced(carry=())
            for qubits, _rho, _touch in op.carry:
                for q in qubits:
                    if carried.get(q) is op:
                        del carried[q]
        for q in op.qubits:
            owner = carried.get(q)
            if owner is None or owner is op:
                continue
            for qubits, rho, touched in owner.carry:  # (as QuantumMemory.apply installs them)
                memory.small.install(qubits, rho)
                memory.shared_qubits.update(qubits)
                for member, t in zip(qubits, touched):
                    memory.last_touch_ps[member] = t
                    del carried[member]
            self._installed.add(owner.key)
        return applied

    def _hand_back(self, touched) -> None:
        """Return the shared small states among ``touched`` qubits that sit on one rank to that rank alone.

        Called at the end of a flush that resolved a measurement (not a
        final or checkpoint flush), with the qubits of the groups its
        operations touched. A shared group goes back to the local tier when
        every qubit belongs to a non-boundary node of one rank (no other
        rank's node can touch it: :meth:`_check_reach`) and no pending
        operation touches it (every rank's operations on it so far were
        gathered and applied, so its rank's later ones come after them in the
        global order): that rank keeps it as a local small state, the others
        drop their copy (DESIGN.md invariant 4). Every rank decides the same:
        the shared groups, the pending operations and the placement are the
        same on all of them. A later operation that spans ranks carries it
        back (:meth:`QuantumMemory.carry_local`).

        With :data:`PIPELINED_EXCHANGE` the rank that keeps the group may
        already hold, in its buffer for the next exchange, operations on it
        that it issued after posting this one (while the group was shared,
        so without a carry): the earliest of them (by key) then carries the
        group back at once (:meth:`_carry_into_buffer`), as an operation
        issued now would, and every rank installs it before applying it.
        """
        memory, rank_of_qubit = self.memory, self._rank_of_qubit
        shared, small = memory.shared_qubits, memory.small
        busy = None
        for q in sorted(touched):
            if q not in shared:
                continue
            group = small.group_of(q)
            if group is None:
                shared.discard(q)
                continue
            members = group.qubits
            rank = rank_of_qubit[members[0]]
            if rank < 0 or any(rank_of_qubit[m] != rank for m in members):
                continue
            if busy is None:  # the qubits of the pending operations (as _flight_qubits, without a set per operation)
                busy = set()
                for _key, op in self._pending:
                    busy.update(op.qubits)
                    for qubits, _rho, _touch in op.carry:
                        busy.update(qubits)
            if not busy.isdisjoint(members):
                continue
            shared.difference_update(members)
            if rank != self._rank:
                small.remove(members[0])
            elif self._buffer:
                self._carry_into_buffer(members)

    def _carry_into_buffer(self, members) -> None:
        """Make the earliest buffered operation on ``members`` (a local small state now) carry that state.

        See :meth:`_hand_back`. The operation's node, if blocked on it, is
        blocked on the new operation (the resolution compares them).
        """
        wanted = set(members)
        first = None
        for i, op in enumerate(self._buffer):
            if not wanted.isdisjoint(self._flight_qubits(op)) and (first is None or op.key < self._buffer[first].key):
                first = i
        if first is None:
            return
        old = self._buffer[first]
        before = self._flight_qubits(old)
        op = self._buffer[first] = old.replaced(carry=old.carry + self.memory.carry_local(members))
        for q in self._flight_qubits(op) - before:
            self._in_flight[q] = self._in_flight.get(q, 0) + 1
        node = self.nodes[op.node]
        if node.blocked_by is not None and node.blocked_by[1] is old:
            node.blocked_by = (node.blocked_by[0], op)

    # ------------------------------------------------------ checkpoint snapshots
    def node_snapshot(self, node: int) -> dict:
        """Everything of one local node a checkpoint saves: queue, mailbox, processes, data, counters (a node
        without a record: an empty one's, made for this and not kept)."""
        return self._snapshot(node, [op for op in self._buffer if op.node == node],
                              [entry for entry in self.timeline if entry[1] == node])

    def _snapshot(self, index: int, buffer: list, timeline: list) -> dict:
        """The saved record of node ``index`` (:meth:`node_snapshot`), given its buffered operations and timeline
        entries."""
        n = self.nodes.get(index) or _Node(index, self.network.names[index])
        saved = {name: getattr(n, name) for name in _SAVED_NODE_FIELDS}
        saved["processes"] = list(n.processes)  # saved as a list in start order, as before 2026-12-07 (late night)
        return {**saved, "buffer": buffer, "timeline": timeline}

    def node_snapshots(self) -> list[tuple[int, dict]]:
        """``(index, node_snapshot)`` of every node of this rank that holds a record (:class:`_Records`), or has
        operations buffered or timeline entries, in node order: what a checkpoint saves (a node without any of
        these is the empty record that a resume makes again when something first reaches it).

        The buffer and the timeline are grouped by node once (not read again for each node).
        """
        buffered: dict[int, list] = {}
        for op in self._buffer:
            buffered.setdefault(op.node, []).append(op)
        logged: dict[int, list] = {}
        for entry in self.timeline:
            logged.setdefault(entry[1], []).append(entry)
        rank, placed = self._rank, self._rank_at
        indices = {node.index for node in self.local}
        indices.update(index for index in (*buffered, *logged) if placed[index] == rank)
        return [(index, self._snapshot(index, buffered.get(index, []), logged.get(index, [])))
                for index in sorted(indices)]

    def _summed_statistics(self) -> dict:
        """Collective: the ``ctx.count`` statistics of all ranks, summed."""
        return _sum_statistics(self.comm.allgather(self.statistics))

    def _own_counts(self) -> tuple[int, ...]:
        """This rank's per-rank engine counts, in the order of ``_PER_RANK_COUNTS``."""
        if self._rank_counts is not None:  # run() has ended: ``stats`` holds the sums over the ranks
            return self._rank_counts
        return tuple(getattr(self.stats, name) for name in _PER_RANK_COUNTS)

    def _summed_counts(self) -> dict:
        """Collective: the per-rank engine counts (events, messages) summed over ranks."""
        return _sum_counts(self.comm.allgather(self._own_counts()))

    def global_snapshot(self) -> dict:
        """Collective: what all ranks share, with per-rank counts summed (complete on every rank)."""
        extras = self.state.checkpoint_extras() if self.state is not None else {}
        return {"pending": [op for _key, op in sorted(self._pending, key=lambda item: item[0])], "statistics": self._summed_statistics(), "state_extras": extras,
                "later": dict(self._later),
                "memory": QuantumMemory.merged_snapshot(self.comm.allgather(self.memory.snapshot())),
                "stats": {**self._summed_counts(), "num_windows": self.stats.num_windows,
                          "num_flushes": self.stats.num_flushes, "num_quantum_ops": self.stats.num_quantum_ops},
                "installed": sorted(self._installed),
                "next_sim_ps": self.checkpointer.next_sim_ps if self.checkpointer is not None else None,
                "loop": self.comm.allgather((list(self._horizons), self._release_ps, list(self._idle_peers),
                                             self._peers_starved, self._budget, self._budget_left)),
                "finished": self.finished}

    def load_snapshot(self, nodes: dict, shared: dict) -> None:
        """Replace this rank's nodes and the shared engine state by saved ones (any placement).

        ``nodes`` maps the index of each saved local node to its :meth:`node_snapshot` (a checkpoint saves those
        of :meth:`node_snapshots`; a node it does not name gets no record);
        ``shared`` is a :meth:`global_snapshot`. Per-rank counts go to rank 0.
        """
        self._buffer, self.timeline = [], []
        for index, data in sorted(nodes.items()):
            if (index not in self.nodes and not data["buffer"] and not data["timeline"]
                    and not any(data[name] for name in _SAVED_NODE_FIELDS)):
                continue  # an empty record (a node nothing had reached): made again when first read
            node = self.nodes[index]
            for name in _SAVED_NODE_FIELDS:
                setattr(node, name, data[name])
            node.processes = dict.fromkeys(data["processes"])  # a saved list, in start order (_Node.processes)
            context = NodeContext(self, node)

            def set_time(time_ps: int, node=node) -> None:
                node.now_ps = time_ps

            for handle in node.processes:
                self._current = handle
                try:
                    handle.rebuild(context, set_time)
                finally:
                    self._current = None
            node.now_ps = data["now_ps"]
            self._buffer.extend(data["buffer"])
            self.timeline.extend(data["timeline"])
        self._buffer.sort(key=lambda op: op.key)
        self._pending = [(op.key, op) for op in shared["pending"]]
        heapq.heapify(self._pending)
        self._pending_measures = [op.key for op in shared["pending"] if op.kind == "measure"]
        # a carry installed already (for an earlier operation on its state) is no longer carried
        self._installed = set(shared.get("installed", ()))
        self._carried = {q: op for op in shared["pending"] if op.key not in self._installed
                         for qubits, _rho, _touch in op.carry for q in qubits}
        heapq.heapify(self._pending_measures)
        self._ready, self._blocked, self._in_flight = [], [], {}
        self._later = dict(shared.get("later", {}))
        self._readers = [n.index for n in self.local if n.blocked_by is not None and n.blocked_by[1].kind == "read"]
        self._unread = {}
        self._horizons = [-math.inf] * self.comm.size
        self._release_ps, self._idle_peers, self._peers_starved = math.inf, [], False
        loop = shared.get("loop")  # None: a checkpoint written before 2026-12-06 (at a cut, after a flush)
        self._loop_restored = loop is not None and len(loop) == self.comm.size and not shared.get("finished")
        # one rank continuing a run of several: the pending operations it restored leave their states shared after
        # the first flush, and every later operation on them would go through a flush too (a 2-rank checkpoint of
        # a 512-link chain resumed in 121 windows and 3.5 CPU s against the one-rank run's 26 and 1.9 s)
        self._rehome = self.comm.size == 1 and (loop is None or len(loop) != 1)
        if self._loop_restored:  # the same ranks: go on right after the exchange the checkpoint was written at
            horizons, self._release_ps, idle, self._peers_starved, self._budget, *left = loop[self.comm.rank]
            self._budget_left = left[0] if left else None  # (a checkpoint written before 2026-12-06: at an exchange)
            self._horizons, self._idle_peers = list(horizons), list(idle)
        self._last_event_ps = max([n.now_ps for n in self.local] or [0])
        for op in [op for _key, op in self._pending] + self._buffer:
            if self._rank_at[op.node] == self.comm.rank:
                for q in self._flight_qubits(op):
                    self._in_flight[q] = self._in_flight.get(q, 0) + 1
        for node in self.local:
            if node.blocked_by is not None:
                heapq.heappush(self._blocked, (node.blocked_by[1].time_ps, node.index))
            elif node.queue:
                heapq.heappush(self._ready, (node.queue[0][0], node.index))
        if self.state is not None:
            self.state.restore_extras(shared["state_extras"])
        self.memory.restore(shared["memory"])
        was_shared = shared["memory"].get("shared_qubits")  # None: a checkpoint written before 2026-12-06
        if was_shared is not None:
            self._localise_restored(set(was_shared))
        first = self.comm.rank == 0
        self.finished, self._rank_counts = bool(shared.get("finished", False)), None
        self.statistics = dict(shared["statistics"]) if first else {}
        for name, value in shared["stats"].items():
            if name in _PER_RANK_COUNTS and not first:
                value = 0
            setattr(self.stats, name, value)

    def _localise_restored(self, was_shared: set) -> None:
        """After a restore (which shares every small state): give each state that was local when the checkpoint
        was written back to the one rank that runs its nodes, where it may be local now (:meth:`_hand_back`'s
        rule: every qubit on a non-boundary node of that rank, no pending operation on it; that rank keeps it,
        the others drop their copy, alike on every rank). States shared when the checkpoint was written stay
        shared.

        Without it a resumed run sent every operation on a restored state through a flush, its node blocked
        until then: a 512-node repeater chain on one rank resumed in 1,060 exchanges instead of the 46 of the
        run it continued, at 7x that run's CPU time (same pairs; docs/review-scale-20261206.md).
        """
        small = self.memory.small
        candidates = set()
        for q in self.memory.shared_qubits - was_shared:
            group = small.group_of(q)
            if group is None or was_shared.isdisjoint(group.qubits):
                candidates.add(q)
        if candidates:
            self._hand_back(candidates)

    # ----------------------------------------------------------------- run
    def run(self, *, until_ps: float = math.inf) -> RunStatistics:
        """Run until no events are left anywhere (or ``until_ps``); collective.

        Each iteration is one exchange (:meth:`_exchange`) and then this
        rank's events up to its *horizon*: the earliest time at which
        anything another rank has yet to do could reach it (the least of
        their promises, :meth:`_promises`: pending event times plus the
        shortest path to this rank). A rank whose neighbours are busy far
        away runs far ahead; one next to a busy link waits one link delay at
        most. At most ``EVENTS_PER_EXCHANGE`` events run per iteration (more on one rank:
        ``EVENTS_PER_EXCHANGE_ONE_RANK``, after a ramp from one with a
        checkpointer; or :data:`EXCHANGE_CPU_S` of CPU time when set), so
        progress is reported and checkpoints are looked at regularly.

        With :data:`PIPELINED_EXCHANGE` (several ranks) the exchange after an
        iteration's events is *posted* (:meth:`_post_exchange`: a
        non-blocking all-to-all of what the rank is at that moment) and the
        rank goes on running events below the horizon it already has (and
        the same cap) while the exchange is in flight, until every rank has
        posted (looked at every ``POLL_EVENTS`` events); then it *completes*
        it (:meth:`_complete_exchange`). Why every rank still acts only on
        what is true when it acts:

        * *Its part of the exchange stays true.* Everything it runs after
          posting was queued then, or descends from what was; so it starts
          no sooner than its posted earliest event, and its promises (each
          pending event or message plus the shortest path) bound what those
          events send. Messages it sends, and operations it issues, after
          posting go into the next exchange's outboxes and buffer.
        * *Horizons.* The running rank keeps the horizon of the last completed
          exchange, which bounds everything another rank could send it from
          what was pending anywhere at that exchange's posting: every message
          it receives at the next completion comes from such events, or
          replies to its own messages. Those posted at the exchange are in
          its promises (to itself); for those it sends after posting,
          ``_send_limit`` keeps the earliest possible reply until the
          exchange that carries them completes (``_send_limit_posted``).
        * *Measurements.* A resolution at exchange ``k`` needs every rank's
          progress (at most its posted earliest event) past the measurement's
          time ``t``, or equal to it with a node of its own blocked at ``t``
          — then its earliest event is ``t`` and the blocked node keeps it
          from running anything at ``t`` or later, so it runs nothing in
          flight (with :data:`RUN_PAST_BLOCKED` it may run events at ``t`` or
          later of other nodes, but none at ``t`` of a node before the posted
          ``held`` node, :meth:`_held_at`: their operations come after the
          measurement). Otherwise what it runs in flight is later than ``t``: its
          operations come after the measurement in the global order, and no
          local event ran past a node that is resumed at completion (no event
          at or after a blocked node's time runs before the node's least
          delay from it). Every rank resolves
          from the posted parts alone, so the same operations on every rank.
        * *Hand-back.* A shared group returned to this rank at exchange ``k``
          may have operations of this rank issued in flight in its buffer;
          the earliest carries the group back (:meth:`_hand_back`), as an
          operation issued after the hand-back would.
        * *Checkpoints.* With a checkpointer a rank runs nothing in flight,
          so right after an exchange every message and operation made
          before it has gone with it (:meth:`_at_cut`: those of nodes that a
          resolution resumed at the completion are looked for). The end of
          the run follows an exchange at which no rank had an event (before
          ``until_ps``), so nobody ran any in flight.

        The results are those of the lockstep; the exchanges fall where the
        ranks' speed puts them (their number depends on the machine, as
        with :data:`EXCHANGE_CPU_S`).

        Checkpoints are written right after an exchange that ends at a cut
        (:meth:`_at_cut`: every event run on any rank before every event
        left). A periodic one's cut is the next multiple of the
        simulated-time period, which no rank's events pass (the cap) until
        it is written: the job's own cuts, in every run of it. One asked for
        (wall-clock period, stop signal) is written at the first exchange the
        run makes anyway that ends at a cut, one picosecond after the latest
        event any rank has run. Neither is before the cut a resumed run
        started from: asked for before any event ran, it is that cut, whose
        checkpoint is kept as it is (:meth:`Checkpointer.write
        <dqsim.engine.checkpoint.Checkpointer.write>`). Nothing is flushed
        for it, and each rank saves the exchange's outcome (its horizons,
        starved peers and event budget), so a resume on as many ranks goes
        on without an exchange of its own: the same exchanges, flushes and
        counts as the uninterrupted run (``tests/test_resume_counters.py``).
        On one rank one asked for is also looked for between any two
        instants of an iteration (:meth:`_run_local`): at the first where no
        node waits for a flush it is written there, without an exchange,
        with the events left of the iteration's budget (:meth:`_write_inside`),
        which the run, or its resume, then runs: again the same counts.
        A stop that saw no cut in :data:`STOP_WAIT_EXCHANGES` exchanges
        makes one: no rank runs past the latest event run (a window cut
        short; the resumed run's window and flush counts may then differ).

        While it runs, the cyclic garbage collector's youngest generation
        waits for ``_GC_YOUNG_THRESHOLD`` new objects instead of Python's 700
        (events make and drop many small objects, none in cycles: about 7 %
        of a 1,024-node ring's run went to collections); restored after.

        A run that can go no further ends too: two exchanges in a row at
        which no rank moved (:meth:`_stuck`; a node blocked for ever in a
        read of an outcome no measurement makes, and whatever waits behind
        it). A process still waiting at the end of a run that ended because
        nothing could run (not at ``until_ps``) ends it with a
        :class:`StuckProcessError`, unless it waits in a ``service`` receive
        (:class:`Receive`) or is a resumable process whose
        :meth:`~dqsim.engine.process.ResumableProcess.may_end_waiting` is true.

        Returns:
            :class:`RunStatistics`, the same on every rank.

        Raises:
            StuckProcessError: processes wait that nothing will resume (see above), on every rank alike.
        """
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _GC_YOUNG_THRESHOLD), *thresholds[1:])
        try:
            return self._run(until_ps)
        finally:
            gc.set_threshold(*thresholds)

    def _at_cut(self, exchange: "_Exchange") -> bool:
        """Collective where the exchange resolved a measurement: whether a checkpoint may be written right after it.

        It may where the exchange ends at a *cut*: every event any rank has
        run is earlier than every event left on any rank (a blocked node's
        left at its measurement's time), so the checkpoint's time, one
        picosecond after the latest event run, splits the run's events into
        those run and those to run; and no message waits to be sent (with a
        checkpointer nothing runs in flight, so every message sent before the
        exchange went with it; only the nodes that a resolved measurement
        resumed may have sent some since, into this rank's outboxes, which a
        checkpoint does not hold). Operations they issued wait in the buffer,
        which is saved with their nodes. Without a resolution the exchange's
        own figures tell (no collective).
        """
        if not exchange.resolved:
            return exchange.next_ps > exchange.last_ps
        earliest, _blocked_ps = self._frontier()
        if self.comm.size == 1:
            return earliest > self._last_event_ps
        parts = self.comm.allgather((earliest, self._last_event_ps, any(self._outbox)))
        return min(part[0] for part in parts) > max(part[1] for part in parts) and not any(part[2] for part in parts)

    def _write_inside(self, left: int, resumed_ps: int, stop_due: bool) -> None:
        """One rank: write the checkpoint asked for at the cut :meth:`_run_local` stopped at inside an iteration,
        with ``left`` events of its budget to run; raise :class:`~dqsim.engine.checkpoint.CheckpointStop` if a stop
        asked for it (``stop_due``: at an exchange before; else the signal's flag now).

        Its name is one picosecond after the latest event run, never before the cut a resumed run started from
        (``resumed_ps``), as at an exchange (:meth:`_run`).
        """
        from dqsim.engine.checkpoint import CheckpointStop, stop_requested  # noqa: PLC0415

        stop = stop_due or stop_requested()
        self._agree_on_refusal()
        self._budget_left = left
        try:
            path = self.checkpointer.write(self, int(max(self._last_event_ps + 1, resumed_ps)), stop=stop)
        finally:
            self._budget_left = None
        if stop:
            raise CheckpointStop(path)

    def _run(self, until_ps: float) -> RunStatistics:
        started = time.perf_counter()
        checkpointer = self.checkpointer
        # a checkpoint asked for right after a resume (no event run since) is named as the resumed one (write keeps it)
        resumed_ps = 0
        if checkpointer is not None and checkpointer.resuming is not None:
            resumed_ps = checkpointer.restore(self)
        due, stop_due = False, False  # a checkpoint asked for (wall-clock period, stop signal), not yet written
        waited, stop_cap = 0, math.inf  # exchanges a stop has waited for a cut; the cut it then makes
        # how far events run: never past the next periodic cut (nor the cut a stop makes)
        cap = until_ps if checkpointer is None else min(until_ps, checkpointer.next_sim_cut_ps())
        rank = self._rank
        cpu_budget_s = EXCHANGE_CPU_S if self.comm.size > 1 else None
        budget = EVENTS_PER_EXCHANGE if self.comm.size > 1 and cpu_budget_s is None else EVENTS_PER_EXCHANGE_ONE_RANK
        # one rank with a checkpointer: iterations of 1, 2, 4, ... events, requests looked at between any two
        # instants (_run_local; the same iterations in every run of the job)
        looks = checkpointer is not None and self.comm.size == 1
        look = checkpointer.looker() if looks else None
        if looks:
            budget = self._budget if self._loop_restored else 1
        self._budget = budget
        if not (looks and self._loop_restored):
            self._budget_left = None  # (else: resumed inside an iteration, with these events left of it)
        pipelined = PIPELINED_EXCHANGE and self.comm.size > 1
        ran = not self.finished  # a checkpoint taken after the run ended (stop_point) resumes past its loop
        # resumed from a checkpoint of these ranks: it was written right after an exchange, whose outcome it
        # restored; the run goes on from there, as the run that wrote it did (the same exchanges after)
        skip = ran and self._loop_restored
        self._loop_restored = False
        # pipelined: the exchange in flight, and how far this rank may run while it is (see run)
        posted = self._post_exchange() if pipelined and ran and not skip else None
        flight_limit = -math.inf
        drained = False  # the loop ended with no event left that any rank can ever run (not at until_ps)
        while not self.finished:
            if skip:
                skip = False
                # a stop that came while the resume loaded is taken before any event runs, as the exchange the
                # resume skips would have (one collective): the resumed checkpoint then stands (write keeps it)
                if checkpointer.stop_pending():
                    from dqsim.engine.checkpoint import CheckpointStop  # noqa: PLC0415

                    raise CheckpointStop(checkpointer.write(self, int(resumed_ps), stop=True))
            else:
                if posted is None:
                    exchange = self._exchange()
                else:
                    if flight_limit > -math.inf:
                        self._run_local(flight_limit, EVENTS_PER_EXCHANGE_ONE_RANK, flight=posted.handle)
                    exchange, posted = self._complete_exchange(posted), None
                self.stats.num_windows += 1
                if exchange.stuck or not exchange.resolved and exchange.next_ps >= until_ps:
                    drained = exchange.stuck or exchange.next_ps == math.inf
                    break
                if checkpointer is not None:
                    if exchange.write:
                        due, stop_due = True, stop_due or exchange.stop
                    sim_cut = checkpointer.next_sim_cut_ps()
                    periodic = exchange.next_ps >= sim_cut
                    # written at the first exchange that ends at a cut (_at_cut); the periodic cut is the
                    # multiple of the period, which no event passes (cap); the one asked for is one picosecond
                    # after the latest event any rank has run, never before the resumed cut (a stop right after
                    # a resume)
                    cut = (due or periodic) and self._at_cut(exchange)
                    if stop_due and not cut:
                        waited += 1
                        if waited >= STOP_WAIT_EXCHANGES:  # make one: run nothing past the latest event run
                            stop_cap = min(stop_cap, exchange.last_ps + 1)
                    if cut:
                        self._agree_on_refusal()  # no checkpoint of a run refused meanwhile (its resume would go on)
                        label = int(max(min(exchange.last_ps + 1 if due else math.inf,
                                            sim_cut if periodic else math.inf), resumed_ps))
                        if periodic:  # (before the write: the checkpoint holds the next periodic cut)
                            checkpointer.passed(int(max(label, sim_cut)), exchange.next_ps)
                        # a write that fails warns and the run goes on, but one a stop asked for raises
                        path = checkpointer.write(self, label, stop=stop_due)
                        if stop_due:
                            from dqsim.engine.checkpoint import CheckpointStop  # noqa: PLC0415

                            raise CheckpointStop(path)
                        if due:
                            due, waited, stop_cap = False, 0, math.inf
                    cap = min(until_ps, checkpointer.next_sim_cut_ps(), stop_cap)
                if self._pending_refusal is not None:  # every rank runs up to a refusal's time, no further
                    cap = min(cap, self._pending_refusal[0] + 1)  # (_await_refusal)
                if self.on_window is not None and rank == 0:
                    reached = exchange.next_ps
                    if not math.isfinite(reached):
                        reached = max([n.now_ps for n in self.local] or [0])
                    self.on_window(int(reached), self.stats.num_windows, exchange.fraction)
            if STARVED_PEERS_RULE and self._peers_starved:
                self._run_local(min(self._horizons[rank], cap), EVENTS_PER_EXCHANGE_ONE_RANK, math.inf,
                                self._release_ps, self._idle_peers)
            else:
                deadline_cpu_s = math.inf if cpu_budget_s is None else self._exchanged_cpu_s + cpu_budget_s
                left, self._budget_left = budget if self._budget_left is None else self._budget_left, None
                looking = look
                while True:
                    self._run_local(min(self._horizons[rank], cap), left, deadline_cpu_s, look=looking)
                    if self._cut_left is None:
                        break
                    # a checkpoint asked for, at a cut inside the iteration: written with the events left of it,
                    # which the run (or its resume) then runs; a stop ends the run here
                    left, self._cut_left, looking = self._cut_left, None, None
                    self._write_inside(left, resumed_ps, stop_due)
                    due, waited, stop_cap = False, 0, math.inf
                if looks:
                    budget = min(EVENTS_PER_EXCHANGE_ONE_RANK, 2 * budget)
                    self._budget = budget
            if pipelined:
                # with a checkpointer nothing runs in flight: an exchange then leaves no message or operation
                # of this rank unsent, and a checkpoint may be written right after it (_at_rest)
                flight_limit = min(self._horizons[rank], cap) if checkpointer is None else -math.inf
                posted = self._post_exchange()
        parts = self._end_parts(flush=ran, drained=drained)
        self.gathered_at_end = [part[3] for part in parts] if self._at_end is not None else None
        self.stats.end_time_ps = int(max(part[0] for part in parts))
        self.memory.finish(self.state, self.stats.end_time_ps)  # idempotent: a resumed finished run repeats it
        self.stats.wall_seconds = time.perf_counter() - started
        self.stats.counters = _sum_statistics(part[1] for part in parts)
        self._rank_counts = parts[self.comm.rank][2]
        for name, value in _sum_counts(part[2] for part in parts).items():
            setattr(self.stats, name, value)
        self.finished = True
        return self.stats

    def _fill_latency_row(self, source: int) -> None:
        """Put the latency from ``source`` to every node it reaches in the latency table, in one pass.

        :meth:`_broadcast` calls it at a node's first broadcast to many nodes
        (at least a sixteenth of them):
        :meth:`~dqsim.network.network.Network.latencies_from` gives the same
        values as one ``latency_ps`` each, ~0.2 µs a node of a 1,024-node
        chain, and each message then takes the broadcast's inlined path (a
        first message to a node took :meth:`_send`'s slower one: B's first
        broadcast cost ~19 M instructions more).
        """
        self._latency_rows.add(source)
        base = source * self._num_nodes
        self._latencies.update({base + dest: latency for dest, latency in enumerate(self.network.latencies_from(source))
                                if latency is not None and dest != source})

    def gather_at_end(self, payload: Callable[[], Any]) -> None:
        """Have ``payload()`` of every rank gathered with the engine's own end of :meth:`run`.

        After :meth:`run`, :attr:`gathered_at_end` holds what ``payload()``
        returned on each rank (rank order), in the run's last collective, so a
        scenario needs none of its own for what its nodes recorded. Called
        once on every rank, after the run's last flush (not on a rank that
        refused the run); it must not call a collective. A
        :class:`~dqsim.errors.DqsimError` it raises travels in that
        collective, and :meth:`run` raises it on every rank alike (the
        lowest rank's, when several raise).
        """
        self._at_end = payload

    def _end_parts(self, *, flush: bool, drained: bool = False) -> list:
        """Collective: the run's last flush (with ``flush``), then every rank's ``(latest event time, ctx.count
        statistics, per-rank counts, gather_at_end payload)``, in one collective.

        The last flush needs no collective of its own: the run loop stops
        after an exchange at which no rank had an event left (before
        ``until_ps``) and none resolved a measurement, so no rank has run
        anything since it posted that exchange. Every rank's buffer of new
        shared operations is then empty and every rank holds the same pending
        ones, which it applies alone, as the gathering flush would (checked:
        a rank with operations left makes every rank raise). The end of a
        1,024-node chain on 2 ranks made three collectives, the scenario's
        own included. Each rank's part goes to the others only (an
        all-to-all with its own slot empty): none unpickles its own. A
        refusal of the run that no exchange carried (one found after the
        last, in this flush included) travels with the parts too, and so do
        the rank's processes that still wait (:meth:`_waiting_processes`: in a
        measurement or a read of outcomes; with ``drained``, a run that ended
        because no rank can ever run an event again, also in a receive that is
        not a service one) and an error of the
        payload (:meth:`gather_at_end`): each raised on every rank alike, in
        that order, with the line a run on one rank gives.

        Raises:
            DqsimError: some rank refused the run (:meth:`refuse_after_error`; :class:`ClockLimitError`:
                :meth:`refuse_past_clock`), on every rank alike; or a rank's ``gather_at_end`` payload raised it.
            EngineError: a rank had shared operations left (an engine bug).
            StuckProcessError: processes still wait (see above).
        """
        comm, rank, size = self.comm, self._rank, self.comm.size
        unshared = len(self._buffer) if flush else 0
        if flush:
            started = time.perf_counter()
            gathered, self._buffer = [self._buffer], []
            self._resolve(gathered, everything=True, started=started)
        blocked = self._waiting_processes(receives=drained)
        payload, failed, held = None, None, None
        if self._at_end is not None and self._refusal is None:  # (a refused run's payload is never read)
            try:
                payload = self._at_end()
            except DqsimError as error:  # found on this rank alone: the others would wait for it below
                failed, held = error, held_error(error)
        part = (unshared, max([n.now_ps for n in self.local] or [0]), self.statistics, self._own_counts(), payload,
                blocked, held, self._refusal)
        parts = comm.alltoall([None if r == rank else part for r in range(size)]) if size > 1 else [None]
        parts[rank] = part
        self._raise_refusal(_earliest_refusal([each[-1] for each in parts]))
        left = [r for r, each in enumerate(parts) if each[0]]
        if left:
            raise EngineError(f"rank(s) {left} still had shared operations to share at the end of the run; "
                              "an engine bug: please report it with the job")
        if any(each[-3][0] for each in parts):
            raise StuckProcessError(_stuck_line([each[-3] for each in parts]))
        raise_held([each[-2] for each in parts], rank, failed)
        return [each[1:-3] for each in parts]

    def _waiting_processes(self, *, receives: bool) -> tuple[int, list]:
        """This rank's processes that still wait at the run's end: ``(how many, the first few)``.

        Each of the first few (:data:`_STUCK_LISTED`) is ``(kind, node, order,
        text)``: kind 0 for a node blocked in a measurement or a read of
        outcomes, 1 for a receive (looked at with ``receives`` only; a
        service receive, :class:`Receive`, never counts), the node's index, the
        process's place among the node's processes, and a clause naming the
        node, the process and what it waits for; sorted so, which every rank
        does alike (:func:`_stuck_line`). A resumable process whose
        :meth:`~dqsim.engine.process.ResumableProcess.may_end_waiting` says so
        is not counted.
        """
        found = []
        for node in self.local:
            waits = []
            if node.blocked_by is not None:
                process, op = node.blocked_by
                waits.append((0, process, self._awaited_outcomes(op)))
            if receives:
                for tag, waiters in node.waiting.items():
                    for waiter in waiters:
                        if type(waiter) is not tuple:
                            process, what = waiter, f"a message {_short_repr(tag)}"
                        elif len(waiter) == 2:  # (a service receive has a third item)
                            have = len(node.mailbox.get(tag, ()))
                            process, what = waiter[0], f"{waiter[1]} messages {_short_repr(tag)} ({have} came)"
                        else:
                            continue
                        if not (process.resumable and process.process.may_end_waiting(process.context)):
                            waits.append((1, process, what))
            for kind, process, what in waits:
                order = next((i for i, each in enumerate(node.processes) if each is process), len(node.processes))
                found.append((kind, node.index, order, f"node {node.name}: process {process.name} waits for {what}"))
        found.sort(key=itemgetter(0, 1, 2))
        return len(found), found[:_STUCK_LISTED]

    def _awaited_outcomes(self, op: QOp) -> str:
        """What a node blocked on ``op`` waits for: its measurement, or the outcomes of a read not known yet."""
        if op.kind != "read":
            return f"its measurement at {op.time_ps} ps"
        keys = [o.key for o in op.payload if o.bits is None and o.key not in self._later]
        names = self.network.names
        listed = ", ".join(f"({time_ps} ps, node {names[node] if 0 <= node < len(names) else node}, #{seq})"
                           for time_ps, node, seq in keys[:2])
        more = f" and {len(keys) - 2} more" if len(keys) > 2 else ""
        return f"the outcome(s) {listed}{more}, which no measurement made"

    def stop_point(self) -> None:
        """Collective, after :meth:`run`: act on a stop signal that came since the engine's last exchange.

        A scenario calls it in its work after the run (the DQC fidelity check,
        expectation values, sampling; through
        :meth:`~dqsim.engine.checkpoint.CheckpointSession.stop_point` the
        tables and output write of ``dqc``, ``trotter``, ``qkd``, ``repeater``
        and ``cloud``) at
        places every rank reaches alike.
        With a checkpointer, when a stop signal (SIGTERM, SIGUSR1, Ctrl-C)
        came on any rank, it writes a checkpoint of the finished run (cut one
        picosecond after its end; its resume runs no event and redoes only
        the work after :meth:`run`) and raises
        :class:`~dqsim.engine.checkpoint.CheckpointStop` on every rank
        (exit status 75). Without a checkpointer it does nothing.
        """
        if self.checkpointer is not None:
            self.checkpointer.stop_after_run(self)

    def stop_pending(self) -> bool:
        """Collective, after :meth:`run`: whether :meth:`stop_point` would checkpoint and stop now.

        For work after the run that changes the final state in place (the DQC
        fidelity check without a second register): it puts the state back
        before it calls :meth:`stop_point`. Always false without a checkpointer.
        """
        return self.checkpointer is not None and self.checkpointer.stop_pending()

    def gather_probes(self) -> dict:
        """Collective: the values of every probe operation of the run (from all ranks), on every rank."""
        return self.merged_probes(self.comm.allgather(self.memory.probes))

    @staticmethod
    def merged_probes(parts: Iterable[dict]) -> dict:
        """Every rank's probe values (``QuantumMemory.probes``, one dict each) in one dict."""
        return {key: value for part in parts for key, value in part.items()}

    def gather_timeline(self) -> list[tuple[int, int, str, str]] | None:
        """Collective: every rank's timeline merged and sorted on rank 0 (``None`` elsewhere)."""
        parts = self.comm.gather(self.timeline)
        if parts is None:
            return None
        merged = [entry for part in parts for entry in part]
        merged.sort(key=lambda e: (e[0], e[1]))
        return merged
