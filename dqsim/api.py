"""Write your own protocols: the public API the built-in protocols are written in.

A *node program* is a generator function ``program(ctx, *args)`` run by the
event engine on the rank that holds its node. It sees its node through
``ctx`` (a :class:`NodeContext`) and nothing else, and it advances in
virtual time (integer picoseconds) by yielding commands:

=============================================  ===========================================================
``yield ctx.wait(delay_ps)``                   resume ``delay_ps`` later (``>= 0``)
``msg = yield ctx.receive(tag)``               resume with the next :class:`Message` of that tag (``count=n``:
                                               a list of the next ``n``; ``service=True``: see "Errors")
``outcomes = yield ctx.measure(qubits,``       measure this node's qubits (``basis`` ``"Z"``, ``"X"`` or
``basis="Z", error_probability=0.0)``          ``"Y"``; ``error_probability`` flips each outcome); the node
                                               blocks until the outcome is known and gets a tuple of 0/1
=============================================  ===========================================================

and by calling methods that return at once:

* ``ctx.send(dest, tag, payload=None, *, extra_delay_ps=0)``: a classical
  message to node ``dest``; it arrives after ``Network.latency_ps`` (the
  link's delay plus ``dest``'s processing delay; plus ``extra_delay_ps``),
  at the time returned. Under :func:`run_node_programs` ``dest`` must be
  joined to this node by a link (messages are not routed: a message to
  another node is refused in one line; add the link to ``links=``, or relay
  it with a program on a node linked to both); the built-in scenarios' networks
  route a message along the links of least fibre length;
* ``ctx.send_over_link(dest, tag, payload=None, *, extra_delay_ps=0)``: the
  same along the link joining this node and ``dest`` (what a heralding
  station on that link sends), even where, on a routed network, a route
  through other nodes is shorter; :func:`epr_initiator` sends the responder's herald so;
* ``ctx.broadcast(dests, tag, payload=None, *, quiet_until_ps=0)``: the same
  message to each node of ``dests`` in turn (as many ``send`` calls, made in
  one loop); ``quiet_until_ps``: the protocol's promise that a receiver's
  handling causes nothing before then (it sends, starts and measures nothing
  and only waits until then), which lets other ranks run ahead; checked;
* ``ctx.apply(gate_op(name, qubits, params), *, error_probability=0.0)``: a
  gate on this node's qubits now (:func:`gate_op`: ``"h"``, ``"cx"``,
  ``"rx"``, ... ; a depolarizing error with that probability);
* ``ctx.bell_pair(qubit_here, qubit_there, werner)``: a Werner pair with
  parameter ``werner`` (:func:`werner_from_fidelity`), or a pair in the exact
  state ``werner`` when it is a 4x4 density matrix (little-endian,
  ``qubit_here`` the low bit; e.g. ``LinkSpec.delivered_state``), on one
  qubit here and one at the peer, which must hold its qubit reserved
  (DESIGN.md invariant 3);
  ``arrival_ps=`` makes the peer's qubit start to decohere that much later
  (its half still in flight);
  :func:`epr_initiator` / :func:`epr_responder` do the heralded generation
  over a :class:`LinkSpec` (attempts, herald timing, fidelity) for you;
* ``ctx.reset(qubits)``: qubits back to ``|0>`` (no outcome, no blocking);
* ``ctx.probe_bell_fidelity(qubit_a, qubit_b, key)``: read ``<Phi+|rho|Phi+>``
  of two qubits at this time without changing them; the value is in
  ``run.probes[key]`` of the :class:`ProgramRun` that :func:`run_node_programs`
  returns (on every rank; ``key`` unique in the run);
  ``ctx.probe_bell_diagonal(qubit_a, qubit_b, key)`` reads the four Bell
  weights ``(Phi+, Phi-, Psi+, Psi-)`` the same way (``examples/probe_memory.py``);
* ``ctx.spawn(program, *args)``: another process on this node, now;
* ``ctx.stream(purpose)``: this node's counter-based random stream for a
  protocol decision (``.uniform()``, ``.geometric(p)``,
  ``.next_generator()``; :mod:`dqsim.rng`); the same draws on any number of
  ranks;
* ``ctx.node_data``: a dict shared by the node's processes; change it only
  in ``ctx.effect(change, *args)`` and read what steers a process through
  ``ctx.record(read, *args)`` (so that a process restored from a checkpoint
  can be re-executed, :mod:`dqsim.engine.process`);
* ``ctx.log(kind, detail)``: a line of the run's timeline;
* ``ctx.count(key, amount=1)``: add an integer to a statistic, summed over ranks
  at the end (``ProgramRun.statistics.counters``, :func:`counter`); a float is
  refused (count in integer units, e.g. ps; a fidelity: ``probe_bell_fidelity``);
* ``ctx.node``, ``ctx.name``, ``ctx.now_ps``: the node's index, name and clock;
  ``ctx.processing_delay_ps``: its ``NodeSpec.classical_processing_delay_ps``,
  which every message to it already takes (add it where the node learns
  something without a message; :func:`epr_initiator` does at the herald);
* ``ctx.check_clock(time_ps, what, advice=None)``: whether ``time_ps`` is within
  the engine's clock limit, 2**61 ps; past it the run is refused in one line
  (``what`` ... ``advice``), alike on every rank. Every wait, message or spawn
  past the limit is refused so anyway; call it to name your own keys.

A sub-protocol is a generator too: ``result = yield from purify_end(ctx, ...)``
(:func:`purify_end`, :func:`epr_initiator`, :func:`epr_responder` are the
built-in ones). :func:`run_node_programs` runs programs on a network of
nodes and links on every rank (collective); ``examples/distillation.py``
is a complete example (entanglement distillation, run with ``mpiexec``).

Rules the engine relies on: a node touches only its own qubits
(:func:`qubit_of`), except the peer's reserved qubit of a ``bell_pair`` made
over a link; all randomness comes from ``ctx.stream`` (never ``random`` or
``np.random``); messages go only between nodes joined by a link. Then
results are the same on 1, 2 or 4 ranks. Network qubits live in small exact
density matrices; those of nodes whose links all stay on one rank are
updated by that rank at once (``docs/architecture.md``, "Two tiers").

Errors: a process that cannot go on for a reason the user can fix raises
:class:`~dqsim.errors.DqsimError` with one line saying what and which key to
change. The engine stops the run on the node's rank and raises that error on
every rank at the next exchange (the earliest such error of any rank, by
simulated time, then node), so ``dqsim run`` prints the line once and exits
with status 2 on any number of ranks. Any other exception is taken for a
bug: it propagates at once on its rank, with its traceback.

A run ends when no event is left on any rank. A process still waiting then
(for a message no node sends, or an outcome no measurement makes) is taken
for a stuck protocol: the run raises
:class:`~dqsim.engine.simulator.StuckProcessError` on every rank, one line
naming the first few waiting processes, their nodes and what each waits for
(exit status 2 under ``dqsim``). A loop that serves requests for as long as
the run lasts receives with ``ctx.receive(tag, service=True)`` and may be
left waiting; so may a :class:`~dqsim.engine.process.ResumableProcess`
whose ``may_end_waiting(ctx)`` says its work was called off.

Examples:
    >>> from dqsim import comm as comm_mod
    >>> def ping(ctx, peer):
    ...     ctx.send(peer, "ping", ctx.now_ps)
    ...     reply = yield ctx.receive("pong")
    ...     ctx.count("round_trip_ps", ctx.now_ps - reply.payload)
    >>> def pong(ctx, peer):
    ...     msg = yield ctx.receive("ping")
    ...     ctx.send(peer, "pong", msg.payload)
    >>> link = LinkSpec(distance_km=10.0)
    >>> run = run_node_programs({0: [(ping, (1,))], 1: [(pong, (0,))]}, node_names=["a", "b"],
    ...                         links={(0, 1): link}, qubits_per_node=1, comm=comm_mod.init())
    >>> run.statistics.counters["round_trip_ps"] == 2 * link.delay_ps
    True
"""

from dqsim.engine import Message, MeasureCmd, NodeContext, Receive, RunStatistics, Wait
from dqsim.network.link import LinkSpec
from dqsim.network.werner import (bbpssw_fidelity, bbpssw_success_probability, fidelity_from_werner,
                                  werner_from_fidelity)
from dqsim.protocols.epr import EprResult, epr_initiator, epr_responder
from dqsim.protocols.purify import purify_end
from dqsim.scenarios.programs import ProgramRun, counter, qubit_of, run_node_programs
from dqsim.state.gates import GateOp, gate_op

__all__ = [
    "EprResult", "GateOp", "LinkSpec", "MeasureCmd", "Message", "NodeContext", "ProgramRun", "Receive",
    "RunStatistics", "Wait", "bbpssw_fidelity", "bbpssw_success_probability", "counter", "epr_initiator",
    "epr_responder", "fidelity_from_werner", "gate_op", "purify_end", "qubit_of", "run_node_programs",
    "werner_from_fidelity",
]
