"""The event engine and the protocols on it: rules, physics against formulas, shutdown.

Statistical checks use fixed seeds and a tolerance of 3 standard errors.
"""

import json
import math
import time
import zlib

import numpy as np
import pytest

from dqsim import comm as comm_mod
from dqsim.engine import EngineError, Simulator
from dqsim.errors import ResourceError
from dqsim.network.link import LinkSpec
from dqsim.network.network import UNREACHABLE_PS, Network
from dqsim.network.node import NodeSpec
from dqsim.network.werner import teleportation_fidelity
from dqsim.protocols.epr import epr_initiator, epr_responder
from dqsim.protocols.teleport import teleport_receiver, teleport_sender
from dqsim.state.gates import gate_op
from dqsim.state.sharded import ShardedState
from dqsim.units import M_PER_KM, SPEED_OF_LIGHT_M_PER_S
from mpi_helper import run_check_here, run_mpi


class TwoRanksOneProcess(comm_mod.SingleComm):
    """Pretends to be rank 0 of 2, to exercise the window rule in one process."""

    size = 2


def link_of_delay(delay_ps):
    """A link whose one-way delay is exactly ``delay_ps`` (group index 1: L = c·t)."""
    link = LinkSpec(distance_km=delay_ps * 1e-12 * SPEED_OF_LIGHT_M_PER_S / M_PER_KM, group_index=1.0)
    assert link.delay_ps == delay_ps
    return link


def make_network(names=("a", "b"), *, latency_ps=1000, t1_s=math.inf, t2_s=math.inf, num_ranks=1,
                 rank_of_node=None, network_class=Network):
    """Every pair of nodes linked directly by a link of ``latency_ps``."""
    nodes = [NodeSpec(name=name, t1_s=t1_s, t2_s=t2_s) for name in names]
    link = link_of_delay(latency_ps)
    links = {(a, b): link for a in range(len(names)) for b in range(a + 1, len(names))}
    return network_class.from_links(nodes, links, num_ranks=num_ranks, placement=rank_of_node)


def make_sim(num_qubits, owner, *, names=("a", "b"), latency_ps=1000, seed=0, t1_s=math.inf, t2_s=math.inf,
             comm=None, rank_of_node=None, network=None):
    comm = comm or comm_mod.SingleComm()
    state = ShardedState(num_qubits, comm, seed=seed)
    network = network or make_network(names, latency_ps=latency_ps, t1_s=t1_s, t2_s=t2_s, num_ranks=comm.size,
                                      rank_of_node=rank_of_node)
    sim = Simulator(network, comm=comm, state=state, qubit_owner=owner, seed=seed)
    return sim, state


def test_a_run_with_no_events_ends():
    sim, _ = make_sim(2, [0, 1])
    stats = sim.run()
    assert stats.num_events == 0 and stats.end_time_ps == 0



def test_the_payload_gathered_at_the_end_is_made_after_the_last_flush():
    """An operation no measurement resolved is applied by the run's last flush, before ``gather_at_end``'s payload."""
    sim, state = make_sim(2, [0, 1])

    def flip(ctx):
        yield ctx.wait(5)
        ctx.apply(gate_op("x", [0]))
        ctx.count("flips", 1)

    sim.spawn(0, flip)
    sim.gather_at_end(lambda: sim.stats.num_quantum_ops)
    stats = sim.run()
    assert sim.gathered_at_end == [1] and stats.num_quantum_ops == 1 and stats.counters == {"flips": 1}
    assert stats.end_time_ps == 5 and state.expectation("Z", [0]) == pytest.approx(-1.0)


@pytest.mark.parametrize("ranks", [2, 4])
def test_the_end_of_a_run_on_several_ranks_gathers_counts_statistics_and_payloads(timeline_checks, ranks):
    """One collective: every rank's payload in rank order (made after the last flush), summed counts and counters."""
    result = timeline_checks["end_gather_check"][ranks]
    last = ranks - 1
    expected = [[0, 1, ["a"]]] + [[r, 0, []] for r in range(1, last)] + [[last, 0, ["b"]]]
    assert result["gathered"] == expected  # rank 0 counts the shared operations it applies (the flip)
    assert result["counters"] == [["'pings'", 2], ["('node', 'a')", 1], ["('node', 'b')", 1]]
    assert result["quantum_ops"] == 1 and result["end_ps"] == result["latency_ps"]

def test_zero_latency_cross_rank_link_is_refused():
    nodes = [NodeSpec(name="a"), NodeSpec(name="b")]
    with pytest.raises(ResourceError, match="link a-b has zero delay"):
        Network.from_links(nodes, {(0, 1): LinkSpec(distance_km=0.0)}, num_ranks=2, placement=[0, 1])


def test_network_for_another_rank_count_is_refused():
    with pytest.raises(EngineError, match="placed on 1 rank"):
        make_sim(2, [0, 1], comm=TwoRanksOneProcess(), network=make_network())


def test_a_rank_makes_a_node_s_record_when_something_first_reaches_it():
    """Rank 0 of 2 makes no engine record at the start: its nodes b and c get theirs at a spawn or a message (and
    join ``local``, in node order), a and d (rank 1's) when a scenario asks (node_data, context); a node that nothing
    reaches has none (since 2026-12-06; before, a rank made one for each of its nodes at the start)."""
    from dqsim.engine.simulator import _Node

    names = ("a", "b", "c", "d")
    sim = Simulator(make_network(names, num_ranks=2, rank_of_node=[1, 0, 0, 1]), comm=TwoRanksOneProcess(),
                    state=None, qubit_owner=[0, 1, 2, 3], num_data_qubits=0)
    assert dict(sim.nodes) == {} and sim.local == [] and sim.own_nodes == [1, 2]
    sim.spawn(3, lambda ctx: iter(()))  # another rank's node: ignored, no record made
    assert 3 not in sim.nodes

    def sender(ctx):
        ctx.send(1, "hello")
        yield ctx.wait(0)

    sim.spawn(2, sender)
    assert list(sim.nodes) == [2] and sim.local == [sim.nodes[2]]
    sim.context(2).send(1, "x")  # a message to b makes b's record, before c's in local
    assert sim.local == [sim.nodes[1], sim.nodes[2]] and [n.index for n in sim.local] == [1, 2]
    assert sim.node_data(3) == {} and sim.nodes[3] == _Node(3, "d")
    sim.node_data(3)["x"] = 1  # the same record each time
    assert sim.nodes[3].data == {"x": 1} and sim.context(0).name == "a"
    assert sim.local == [sim.nodes[1], sim.nodes[2]]  # still this rank's nodes only
    assert sim.node_snapshot(1)["queue"] and sim.node_snapshot(1)["processes"] == []  # the message, to deliver


def test_qubit_ranks_mark_boundary_nodes_and_own_network_qubits():
    """Per qubit: its node's rank, -1 at a boundary node; and whether it is a network qubit of a non-boundary node
    of this rank. A chain a-b-c-d-e on ranks 0, 0, 0, 1, 1: c and d are the boundary; qubits 0..2 are data."""
    specs, links = [NodeSpec(name=name) for name in "abcde"], [(j, j + 1, link_of_delay(1000)) for j in range(4)]
    owner = [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]
    sim = Simulator(Network.from_links(specs, links, num_ranks=2, placement=[0, 0, 0, 1, 1]),
                    comm=TwoRanksOneProcess(), state=None, qubit_owner=owner, num_data_qubits=3)
    assert list(sim._rank_of_qubit) == [0, 0, -1, -1, 1, 0, 0, -1, -1, 1]  # (4-byte ints, 1-byte flags)
    assert list(map(bool, sim._own_network_qubit)) == [False] * 5 + [True, True, False, False, False]
    alone = Simulator(Network.from_links(specs, links), comm=comm_mod.SingleComm(), state=None, qubit_owner=owner,
                      num_data_qubits=3)
    assert list(alone._rank_of_qubit) == [0] * 10
    assert list(map(bool, alone._own_network_qubit)) == [False] * 3 + [True] * 7


def test_message_inside_its_window_is_impossible():
    class LyingNetwork(Network):
        def latency_ps(self, a, b):
            return 10  # shorter than any link: the engine must catch it

    network = make_network(latency_ps=1000, num_ranks=2, rank_of_node=[0, 1], network_class=LyingNetwork)
    sim, _ = make_sim(2, [0, 1], comm=TwoRanksOneProcess(), network=network)

    def sender(ctx):
        ctx.send(1, "early", None)  # latency 10 ps < lookahead 1000 ps
        yield ctx.wait(1)

    sim.spawn(0, sender)
    with pytest.raises(EngineError, match="may already have passed"):
        sim.run()


def test_time_advances_by_waits_and_latency():
    sim, _ = make_sim(2, [0, 1], latency_ps=5000)
    seen = {}

    def a(ctx):
        yield ctx.wait(100)
        ctx.send(1, "x", 42)

    def b(ctx):
        msg = yield ctx.receive("x")
        seen["t"], seen["payload"] = ctx.now_ps, msg.payload

    sim.spawn(0, a)
    sim.spawn(1, b)
    stats = sim.run()
    assert seen == {"t": 5100, "payload": 42}
    assert stats.end_time_ps == 5100


def test_a_receive_of_several_messages_resumes_once_at_the_last_arrival():
    """``receive(tag, count=n)``: one step with the n messages in arrival order, when the n-th comes.

    Three senders at 1, 2 and 3 µs from b send at 0, 5 and 1 µs: arrivals at 1, 7 and 4 µs, so b resumes
    at 7 µs with the payloads in the order 0, 2, 1; messages already in the mailbox are taken at once, in
    the same step (no event in between); other tags still wake b one message at a time.
    """
    names = ("b", "s0", "s1", "s2")
    nodes = [NodeSpec(name=name) for name in names]
    links = {(0, i): link_of_delay(i * 1_000_000) for i in (1, 2, 3)}
    network = Network.from_links(nodes, links)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[], num_data_qubits=0)
    seen = []

    def sender(ctx, delay_ps, extra):
        yield ctx.wait(delay_ps)
        ctx.send(0, "bits", ctx.node - 1)
        ctx.send(0, "late", ctx.node - 1, extra_delay_ps=extra)

    def receiver(ctx):
        messages = yield ctx.receive("bits", count=3)
        seen.append((ctx.now_ps, [m.payload for m in messages]))
        late = yield ctx.receive("late")  # one at a time, as ever
        seen.append((ctx.now_ps, late.payload))
        yield ctx.wait(10_000_000)  # every "late" message is in the mailbox by now
        rest = yield ctx.receive("late", count=2)
        seen.append((ctx.now_ps, sorted(m.payload for m in rest)))

    for node, (delay_ps, extra) in zip((1, 2, 3), ((0, 0), (5_000_000, 0), (1_000_000, 1_000_000))):
        sim.spawn(node, sender, delay_ps, extra)
    sim.spawn(0, receiver)
    stats = sim.run()
    assert seen == [(7_000_000, [0, 2, 1]), (7_000_000, 0), (17_000_000, [1, 2])]
    # 4 starts, the senders' 3 waits, 6 deliveries, b's single receive (from the mailbox: one event) and its
    # wait; the 3 "bits" deliveries resumed b once, and its last receive took the mailbox in the same step
    assert stats.num_events == 4 + 3 + 6 + 1 + 1
    with pytest.raises(EngineError, match="receive count must be an integer >= 1, got 0"):
        sim.context(0).receive("bits", count=0)


def test_discard_drops_stale_messages_and_ends_the_processes_waiting_for_them():
    """``ctx.discard(stale)``: the messages of stale tags leave the mailbox, the processes waiting for one end
    (closed, off the node's list), other tags are untouched, and a stale message that comes later waits in the
    mailbox for the next call (nobody takes it)."""
    sim = Simulator(make_network(), comm=comm_mod.SingleComm(), state=None, qubit_owner=[], num_data_qubits=0)
    seen, closed = [], []

    def sender(ctx):
        ctx.send(1, ("old", 1), "early")
        ctx.send(1, ("new", 2), "kept")
        yield ctx.wait(5000)
        ctx.send(1, ("old", 3), "late")

    def stuck(ctx, tag):
        try:
            yield ctx.receive(tag)
            seen.append(("woke", tag))
        finally:
            closed.append(tag)

    def keeper(ctx):
        yield ctx.wait(2000)  # both first messages are in the mailbox
        ctx.discard(lambda tag: tag[0] == "old")
        seen.append(("after", sorted(ctx._node.mailbox), sorted(ctx._node.waiting), len(ctx._node.processes)))
        msg = yield ctx.receive(("new", 2))
        seen.append(("took", msg.payload))

    sim.spawn(0, sender)
    sim.spawn(1, stuck, ("old", 0))
    sim.spawn(1, stuck, ("old", 0))
    sim.spawn(1, keeper)
    sim.run()
    assert seen == [("after", [("new", 2)], [], 1), ("took", "kept")]
    assert closed == [("old", 0), ("old", 0)]
    node = sim.local[1]
    assert list(node.mailbox) == [("old", 3)] and not node.processes


def test_a_node_a_blocked_node_can_still_reach_earlier_is_behind_for_an_operation_run_ahead():
    """RUN_PAST_BLOCKED: while node a (0) waits for a flush at 10 µs, node c (2) runs an event at 30 µs and
    acts on the small state it shares with b's (1) memory. b has no event, but a message of a (1 µs away) could
    reach it at 11 µs and have it act on that state first: c's operation must go through a flush (not applied
    at once, out of time order; found by a one-rank resume of a 2-rank chain checkpoint, the fidelity 1 ulp off
    the uninterrupted run's: tests/test_resume_counters.py)."""
    from dqsim.engine.quantum import qop  # noqa: PLC0415

    nodes = [NodeSpec(name=name) for name in "abc"]
    links = {(0, 1): link_of_delay(1_000_000), (1, 2): link_of_delay(1_000_000)}
    sim = Simulator(Network.from_links(nodes, links), comm=comm_mod.SingleComm(), state=None, qubit_owner=[0, 1, 2],
                    num_data_qubits=0)
    sim.memory.small.werner_pair(1, 2, 1.0)  # b's and c's memories share one small state
    sim.nodes[0].blocked_by = (None, qop(10_000_000, 0, 1, "measure", (0,)))
    sim._blocked.append((10_000_000, 0))
    sim._num_blocks += 1
    sim._ahead_waits = [-1, [], -1, math.inf]
    sim._ahead_ps = 30_000_000
    assert not sim._is_local((2,), 2)
    sim._ahead_ps = 10_500_000  # before a's message could reach b (11 µs): b cannot act earlier
    sim._ahead_waits = [-1, [], -1, math.inf]
    assert sim._is_local((2,), 2)


def test_take_arrived_gives_the_messages_come_so_far_without_an_event():
    """``ctx.take_arrived(tag)``: the messages of ``tag`` in the mailbox now, in arrival order, removed; no wait,
    no event. A sender 1 µs away sends at 0, 1, 2, 3 and 4 µs (arrivals 1-5 µs); the receiver takes at 2.5 µs
    (two), at 2.5 µs again (none), at 4.5 µs (two more: the one at 5 µs has not come) and at 5 µs, when the
    message arriving at that instant was delivered before the receiver's own event (its origin sorts first)."""
    sim = Simulator(make_network(("s", "r"), latency_ps=1_000_000), comm=comm_mod.SingleComm(), state=None,
                    qubit_owner=[], num_data_qubits=0)
    seen = []

    def sender(ctx):
        for i in range(5):
            ctx.send(1, "report", i)
            yield ctx.wait(1_000_000)

    def receiver(ctx):
        for wait_ps in (2_500_000, 0, 2_000_000, 500_000):
            yield ctx.wait(wait_ps)
            seen.append((ctx.now_ps, [m.payload for m in ctx.take_arrived("report")]))

    sim.spawn(0, sender)
    sim.spawn(1, receiver)
    stats = sim.run()
    assert seen == [(2_500_000, [0, 1]), (2_500_000, []), (4_500_000, [2, 3]), (5_000_000, [4])]
    assert not sim.nodes[1].mailbox  # a taken tag leaves no empty list behind
    # 2 starts, the sender's 5 waits, 5 deliveries, the receiver's 4 waits: the takes cost none
    assert stats.num_events == 2 + 5 + 5 + 4


@pytest.mark.parametrize("use_broadcast", [False, "iterator", "list"])
def test_a_broadcast_is_a_send_to_each_node_in_turn(use_broadcast):
    """``ctx.broadcast``: the messages of one ``send`` per node in order, each after its own latency.

    Four nodes: a sends at 2 µs to d, b, a (itself) and c, linked at 3, 1 and 2 µs: arrivals at 5, 3, 2 and
    4 µs, origin counters 3..6 in that order (a's counter numbers the events and messages it made: its start
    and its wait were 1 and 2). A list of destinations fills a's latencies in one pass (``latencies_from``).
    """
    names = ("a", "b", "c", "d")
    nodes = [NodeSpec(name=name) for name in names]
    links = {(0, 1): link_of_delay(1_000_000), (0, 2): link_of_delay(2_000_000), (0, 3): link_of_delay(3_000_000)}
    sim = Simulator(Network.from_links(nodes, links), comm=comm_mod.SingleComm(), state=None, qubit_owner=[],
                    num_data_qubits=0)
    seen = []

    def sender(ctx):
        yield ctx.wait(2_000_000)
        dests = [3, 1, 0, 2]
        if use_broadcast:
            assert ctx.broadcast(iter(dests) if use_broadcast == "iterator" else dests, "hi", ("x", 1)) is None
        else:
            for dest in dests:
                ctx.send(dest, "hi", ("x", 1))
        msg = yield ctx.receive("hi")
        seen.append((ctx.node, ctx.now_ps, msg.source, msg.sent_ps, msg.arrival_ps, msg.origin_counter))

    def listener(ctx):
        msg = yield ctx.receive("hi")
        seen.append((ctx.node, ctx.now_ps, msg.source, msg.sent_ps, msg.arrival_ps, msg.origin_counter))

    sim.spawn(0, sender)
    for node in (1, 2, 3):
        sim.spawn(node, listener)
    stats = sim.run()
    assert sorted(seen, key=lambda s: s[1]) == [
        (0, 2_000_000, 0, 2_000_000, 2_000_000, 5), (1, 3_000_000, 0, 2_000_000, 3_000_000, 4),
        (2, 4_000_000, 0, 2_000_000, 4_000_000, 6), (3, 5_000_000, 0, 2_000_000, 5_000_000, 3)]
    assert stats.num_messages == 4 and stats.num_events == 4 + 1 + 4
    assert sim._latency_rows == ({0} if use_broadcast == "list" else set())
    with pytest.raises(EngineError, match="message to unknown node index 4"):
        sim.context(0).broadcast([1, 4], "hi")


def test_a_broadcast_over_routes_arrives_after_each_routes_latency():
    """On a ring (routes with ties, and group indices that make the least delay another route) every node's
    message from a broadcast arrives after ``Network.latency_ps``, as one ``send`` each would."""
    nodes = [NodeSpec(name=f"n{i}", classical_processing_delay_ps=100 * i) for i in range(8)]
    links = {(i, (i + 1) % 8): LinkSpec(distance_km=1.0 + (i % 3 == 0), group_index=1.0 + i / 7) for i in range(8)}
    network = Network.from_links(nodes, links)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[], num_data_qubits=0)
    arrivals = {}

    def sender(ctx):
        yield ctx.wait(1_000)
        ctx.broadcast(range(1, 8), "hi")

    def listener(ctx):
        msg = yield ctx.receive("hi")
        arrivals[ctx.node] = ctx.now_ps

    sim.spawn(0, sender)
    for node in range(1, 8):
        sim.spawn(node, listener)
    sim.run()
    assert sim._latency_rows == {0}
    assert arrivals == {b: 1_000 + network.latency_ps(0, b) for b in range(1, 8)}


def test_messages_cross_ranks_as_tuples_and_come_back_equal():
    """The exchange's wire form (an Outcome payload travels as its key and bits): pickled, unpickled, made again."""
    import pickle

    from dqsim.engine.simulator import Outcome, _message, _wire_message, _wire_outcome

    messages = [_message(1, 2, ("t", 0), Outcome((5, 1, 3), None), 10, 20, 7),
                _message(1, 3, "bits", Outcome((6, 1, 4), (1, 0)), 11, 21, 8),
                _message(2, 3, "x", ("delivered", 0, 99), 12, 22, 9, 99),  # quiet until 99 ps
                _message(2, 3, "y", None, 13, 23, 10)]
    back = []
    for source, dest, tag, payload, sent_ps, arrival_ps, counter, outcome, quiet in pickle.loads(
            pickle.dumps([_wire_message(m.source, m.dest, m.tag, m.payload, m.sent_ps, m.arrival_ps, m.origin_counter,
                                        m.quiet_ps) for m in messages])):
        if outcome is not None:
            payload = _wire_outcome(payload, outcome[0])
        back.append(_message(source, dest, tag, payload, sent_ps, arrival_ps, counter, quiet))
    assert back == messages
    assert [m.quiet_ps for m in back] == [0, 0, 99, 0]
    assert [m.quiet_ps for m in pickle.loads(pickle.dumps(messages))] == [0, 0, 99, 0]  # as checkpoints keep them
    assert [type(m.payload) for m in back] == [Outcome, Outcome, tuple, type(None)]
    assert back[1].payload.bits == (1, 0) and back[0].payload.bits is None
    assert hash(back[1].payload) == hash(Outcome((6, 1, 4), (1, 0)))


def test_shared_operations_cross_ranks_pickled_and_apply_the_same_bits():
    """A shared operation in the exchange's wire form (plain tuples, a named gate by its name, a carried ρ as its
    bytes) or pickled as its fields comes back equal; applied, it gives the same density matrix bit for bit as
    the original, and a checkpoint's allow-list reads it back."""
    import pickle

    from dqsim.engine.checkpoint import unpickle
    from dqsim.engine.quantum import QuantumMemory, ops_from_wire, qop, wire_ops

    rho = _random_density_matrix(5)

    def memory():
        mem = QuantumMemory(owner=[0, 0, 1, 1], t1_s=[math.inf, 2.0], t2_s=[1.0, 1.5], seed=3, num_data_qubits=0)
        mem.small.install([2, 3], _random_density_matrix(6))
        return mem

    carrier = memory()
    carrier.small.install([0, 1], rho)
    carry = carrier.carry_local([1])
    ops = [qop(40, 0, 1, "gate", (1, 2), gate_op("cx", [1, 2]), 0.01, carry),
           qop(50, 0, 2, "measure", (1,), "X", 0.0).replaced(later=True),
           qop(60, 1, 1, "reset", (3,))]
    wired = pickle.dumps(wire_ops(ops))
    assert b"dqsim" not in wired  # (no class or function named: plain tuples)
    for back in (ops_from_wire(pickle.loads(wired)), pickle.loads(pickle.dumps(ops)), unpickle(pickle.dumps(ops))):
        fields = [[(op.key, op.kind, op.qubits, op.error_probability, op.later, [q for q, _r, _t in op.carry])
                   for op in run] for run in (ops, back)]
        assert fields[0] == fields[1] and back[1].later and back[0].carry[0][0] == [0, 1]
        assert back[1:] == ops[1:]  # (equal dataclasses where no field is an array)
        assert back[0].payload.matrix is gate_op("cx", [0, 1]).matrix  # a named gate travels by its name
        mine, theirs = memory(), memory()
        outcomes = [mine.apply(None, op) for op in ops], [theirs.apply(None, op) for op in back]
        assert outcomes[0] == outcomes[1]
        assert np.array_equal(mine.small.density_matrix([0, 1, 2]), theirs.small.density_matrix([0, 1, 2]))
        assert mine.small.group_of(0).qubits == theirs.small.group_of(0).qubits == [2, 0]
    # the carried pair itself, exactly: no other operation touched qubit 0
    np.testing.assert_array_equal(unpickle(pickle.dumps(ops[0])).carry[0][1], rho)


def test_an_exchange_fixed_part_crosses_ranks_flat_and_every_field_is_read_back():
    """_wire_info, pickled and unpickled, read by _info_columns: each field of each of 3 ranks where it belongs.

    Values are distinct per rank and field, and the expected columns are worked out here from the inputs, so a
    field dropped, added or moved in the wire form shifts the others and fails the comparison.
    """
    import pickle

    from dqsim.engine.simulator import _info_columns, _wire_info

    size = 3
    promises = [[1_000 * c + (r + c) % size + 1 for c in range(size)] for r in range(size)]
    handed = [[math.inf if r == c else 5_000 + 100 * c + 10 * r for c in range(size)] for r in range(size)]
    earliest, held = [700, 500, 600], [(math.inf, 0), (550, 4), (650, 9)]
    next_ps, last_ps = [710, 510, 610], [690, 495, 599]
    flags, work = [(False, False), (True, False), (True, True)], [(1, 4), (2, 5), (3, 6)]
    refusals = [None, (2**61 + 7, 3, "later"), (2**61 + 5, 8, "earliest")]
    moved = [True, False, True]
    parts = [pickle.loads(pickle.dumps(_wire_info(promises[r], handed[r], earliest[r], held[r], next_ps[r],
                                                  last_ps[r], flags[r], work[r], refusals[r], moved[r])))
             for r in range(size)]
    assert all(type(part) is tuple and len(part) == 2 * size + 10 for part in parts)
    columns = _info_columns(parts, size)
    assert columns[0] == [min(promises[r][c] for r in range(size)) for c in range(size)] == [1, 1_001, 2_001]
    assert columns[1] == [min(handed[r][c] for r in range(size)) for c in range(size)] == [5_010, 5_100, 5_200]
    assert list(columns[2]) == earliest and list(columns[3]) == held
    assert list(columns[4]) == next_ps and list(columns[5]) == last_ps
    assert list(columns[6]) == [w for w, _stop in flags] and list(columns[7]) == [stop for _w, stop in flags]
    assert list(columns[8]) == work and list(columns[9]) == moved
    assert columns[10] == refusals[2]  # the earliest refusal of any rank (the clock limit), else None
    # one rank (the engine's own part, never pickled): no work, no requests
    alone = _info_columns([_wire_info((math.inf,), (math.inf,), 3, (math.inf, 0), 3, 2, (False, False), None)], 1)
    assert alone == ([math.inf], [math.inf], (3,), [(math.inf, 0)], (3,), (2,), (False,), (False,), (None,), (True,),
                     None)


def test_epr_generation_rate_matches_the_link_formulas():
    """Mean attempts 1/p and mean time to the successful emission (1/p − 1)·period, 3 standard errors."""
    link = LinkSpec(distance_km=40.0, scheme="double_click")
    p, period = link.success_probability, link.attempt_period_ps
    pairs = 400
    sim, _ = make_sim(2, [0, 1], latency_ps=link.delay_ps, seed=3)
    records = []

    def initiator(ctx):
        for i in range(pairs):
            start = ctx.now_ps + 2 * link.delay_ps  # after the reservation handshake
            result = yield from epr_initiator(ctx, 1, link, 0, i)
            records.append((result.attempts, result.created_ps - start, result.herald_ps - result.created_ps))
            ctx.reset([0])
            yield ctx.receive(("freed", i))

    def responder(ctx):
        for i in range(pairs):
            yield from epr_responder(ctx, 0, 1, i)
            ctx.reset([1])
            ctx.send(0, ("freed", i))

    sim.spawn(0, initiator)
    sim.spawn(1, responder)
    stats = sim.run()
    attempts = np.array([r[0] for r in records], dtype=float)
    waits = np.array([r[1] for r in records], dtype=float)
    assert abs(attempts.mean() - 1 / p) < 3 * math.sqrt((1 - p) / p**2 / pairs)
    expected_wait = (1 / p - 1) * period
    assert abs(waits.mean() - expected_wait) < 3 * period * math.sqrt((1 - p) / p**2 / pairs)
    assert all(r[2] == link.delay_ps for r in records)  # herald one link delay after emission
    assert stats.counters[("pairs", 0, 1)] == pairs
    assert stats.counters[("photons", 0, 1)] == 2 * attempts.sum()  # Barrett-Kok: one photon per node


def test_teleportation_fidelity_with_a_werner_pair_is_2F_plus_1_over_3():
    """Average over Haar-random inputs and trajectories, 3 standard errors."""
    fidelity = 0.8
    link = LinkSpec(distance_km=1.0, source_fidelity=fidelity)
    rng = np.random.default_rng(11)
    values = []
    for trial in range(600):
        theta = math.acos(1 - 2 * rng.random())
        phi, lam = rng.uniform(0, 2 * math.pi, 2)
        sim, state = make_sim(3, [0, 0, 1], latency_ps=link.delay_ps, seed=trial)

        def alice(ctx):
            ctx.apply(gate_op("u", [0], [theta, phi, lam]))
            yield from epr_initiator(ctx, 1, link, 1, "pair")
            yield from teleport_sender(ctx, 1, 0, 1, "t")

        def bob(ctx):
            yield from epr_responder(ctx, 0, 2, "pair")
            yield from teleport_receiver(ctx, 0, 2, "t")

        sim.spawn(0, alice)
        sim.spawn(1, bob)
        sim.run()
        ideal = ShardedState(3)
        ideal.apply(gate_op("u", [2], [theta, phi, lam]))
        values.append(ideal.fidelity(state))
    values = np.array(values)
    expected = teleportation_fidelity(fidelity)
    assert abs(values.mean() - expected) < 3 * values.std(ddof=1) / math.sqrt(values.size)


@pytest.mark.parametrize("prepare,observable,decay", [("h", "X", "t2"), ("x", "Z", "t1")])
def test_memory_decoherence_over_a_wait_matches_t1_t2(prepare, observable, decay):
    """⟨X⟩ of |+⟩ decays as e^(−t/T2); P(1) of |1⟩ as e^(−t/T1); trajectory averages, 3 standard errors."""
    t1_s, t2_s, wait_s = 2e-3, 1.5e-3, 1e-3
    values = []
    for trial in range(800):
        sim, state = make_sim(1, [0], names=("a",), seed=trial, t1_s=t1_s, t2_s=t2_s)

        def node(ctx):
            ctx.apply(gate_op(prepare, [0]))
            yield ctx.wait(int(wait_s * 1e12))
            ctx.apply(gate_op("id", [0]))  # touching the qubit applies the waiting time's noise

        sim.spawn(0, node)
        sim.run()
        values.append(state.expectation(observable, [0]))
    values = np.array(values)
    if decay == "t2":
        expected = math.exp(-wait_s / t2_s)
    else:
        expected = 1 - 2 * math.exp(-wait_s / t1_s)  # ⟨Z⟩ = 1 − 2·P(1)
    assert abs(values.mean() - expected) < 3 * values.std(ddof=1) / math.sqrt(values.size)


def test_one_failing_rank_ends_the_whole_job_quickly():
    started = time.monotonic()
    proc = run_mpi(2, ["tests/mpi_scripts/engine_fault.py"], check=False, timeout_s=60)
    assert proc.returncode != 0
    assert time.monotonic() - started < 30
    assert proc.stderr.count("RuntimeError: injected failure on node 1") == 1  # printed once
    assert proc.stderr.count("dqsim: internal error") == 1


@pytest.mark.parametrize("variant", ["bbpssw", "dejmps"])
def test_purification_of_werner_pairs_matches_bbpssw(variant):
    """Success probability and output fidelity against Bennett et al. (1996), 3 standard errors."""
    from dqsim.network.werner import bbpssw_fidelity, bbpssw_success_probability, werner_from_fidelity
    from dqsim.protocols.purify import purify_end

    fidelity = 0.75
    werner = werner_from_fidelity(fidelity)
    successes, kept_fidelities = [], []
    for trial in range(1500):
        sim, state = make_sim(4, [0, 0, 1, 1], seed=trial)
        outcome = {}

        def alice(ctx):
            ctx.bell_pair(0, 2, werner)  # Bob's qubits 2 and 3 are reserved for these pairs
            ctx.bell_pair(1, 3, werner)
            ctx.send(1, "pairs-ready")
            outcome["a"] = yield from purify_end(ctx, 1, 0, 1, "p", variant=variant, first=True)

        def bob(ctx):
            yield ctx.receive("pairs-ready")
            outcome["b"] = yield from purify_end(ctx, 0, 2, 3, "p", variant=variant, first=False)

        sim.spawn(0, alice)
        sim.spawn(1, bob)
        sim.run()
        assert outcome["a"] == outcome["b"]
        successes.append(outcome["a"])
        if outcome["a"]:
            terms = [(0.25, "II", (0, 2)), (0.25, "XX", (0, 2)), (-0.25, "YY", (0, 2)), (0.25, "ZZ", (0, 2))]
            kept_fidelities.append(state.expectation(terms))  # ⟨Φ+|ρ|Φ+⟩
    successes = np.array(successes, dtype=float)
    p = bbpssw_success_probability(fidelity)
    assert abs(successes.mean() - p) < 3 * math.sqrt(p * (1 - p) / successes.size)
    kept = np.array(kept_fidelities)
    assert abs(kept.mean() - bbpssw_fidelity(fidelity)) < 3 * kept.std(ddof=1) / math.sqrt(kept.size)


@pytest.fixture(scope="module")
def timeline_checks(tmp_path_factory):
    """The arrays of engine_horizon_check.py, measure_later_check.py, quiet_wave_check.py,
    engine_handback_check.py and engine_run_past_check.py on 1, 2 and 4 ranks, ``{script: [arrays of each rank
    count]}`` (the last two with their switch on; on 2 ranks also off: ``{script + ":0": arrays}``), and
    end_gather_check.py's result on 2 and 4 ranks (``{"end_gather_check": {ranks: result}}``): all in one launch
    per rank count (tests/mpi_scripts/run_checks.py)."""
    folder = tmp_path_factory.mktemp("timelines")
    scripts = ("engine_horizon_check", "measure_later_check", "quiet_wave_check", "engine_handback_check",
               "engine_run_past_check")
    for ranks in (1, 2, 4):
        checks = [*scripts, *(["engine_handback_check:0", "engine_run_past_check:0"] if ranks == 2 else []),
                  *(["end_gather_check"] if ranks > 1 else [])]
        if ranks == 1:  # the scripts' mains in this process (run_checks.py's calls, no interpreter to start)
            for name in checks:
                module, *args = name.split(":")
                run_check_here(module, str(folder / f"{name}-1.npz"), *args)
            continue
        run_mpi(ranks, ["tests/mpi_scripts/run_checks.py",
                        *(arg for name in checks
                          for arg in (name, str(folder / f"{name}-{ranks}.{'json' if 'gather' in name else 'npz'}")))],
                timeout_s=240)
    found = {name: [dict(np.load(folder / f"{name}-{ranks}.npz")) for ranks in (1, 2, 4)] for name in scripts}
    found.update({f"{name}:0": dict(np.load(folder / f"{name}:0-2.npz")) for name in scripts[-2:]})
    found["end_gather_check"] = {ranks: json.loads((folder / f"end_gather_check-{ranks}.json").read_text())
                                 for ranks in (2, 4)}
    return found


def test_ranks_running_to_different_horizons_keep_the_event_order(timeline_checks):
    """A rank with nothing to wait for runs ahead, but never past the reply to its own message."""
    timelines = timeline_checks["engine_horizon_check"]
    one = timelines[0]
    pong = [t for t, node, what in zip(one["time_ps"], one["node"], one["what"])
            if node == 5 and what == zlib.crc32(b"pong:5000000")]
    assert pong == [10_000_000]  # ping 5 µs out, answered at once, 5 µs back: between two of f's ticks
    assert one["end_ps"][0] == 20_000_000
    for other in timelines[1:]:
        for key in one:
            assert np.array_equal(one[key], other[key]), key


def test_a_quiet_notice_lets_the_other_rank_take_its_part_at_once(timeline_checks):
    """A notice that 16 nodes take one link delay apart, each then waiting for a common start. Declared quiet
    until that start, the rank far from the sender takes its nodes' notices while the near rank takes its own (the
    same exchange); without, it waits until the near rank has taken all of them. Same events either way."""
    one, two, four = timeline_checks["quiet_wave_check"]
    for label in ("quiet", "plain"):
        for other in (two, four):
            assert np.array_equal(one[f"{label}_timeline"], other[f"{label}_timeline"]), label
            assert np.array_equal(one[f"{label}_counts"], other[f"{label}_counts"]), label
    assert np.array_equal(one["quiet_timeline"], one["plain_timeline"])
    assert one["quiet_counts"][0] == 15_000_000 + 1_000_000  # the last ping: at the start, one link
    far, near = two["quiet_windows"][:8], two["quiet_windows"][8:]  # rank 0 holds nodes 0-7 (node 15 on rank 1)
    assert far.min() <= near.max(), two["quiet_windows"]
    far, near = two["plain_windows"][:8], two["plain_windows"][8:]
    assert far.min() > near.max(), two["plain_windows"]


def quiet_receiver(after):
    def receiver(ctx):
        msg = yield ctx.receive("notice")
        yield from after(ctx, msg)
    return receiver


@pytest.mark.parametrize("after, what", [
    (lambda ctx, msg: iter([ctx.send(0, "early")]), "sent message 'early'"),
    (lambda ctx, msg: iter([ctx.wait(msg.payload - ctx.now_ps - 1)]), "waits until 2999 ps"),
    (lambda ctx, msg: iter([ctx.spawn(lambda c: iter([]))]), "started a process"),
    (lambda ctx, msg: iter([ctx.measure([0])]), "waits for a measurement"),
])
def test_a_quiet_message_whose_handling_acts_before_its_time_stops_the_run(after, what):
    """The promise of ``quiet_until_ps`` is checked on one rank too: a protocol that breaks it is found in tests."""
    sim, _state = make_sim(1, [1], names=("a", "b", "c"))

    def announce(ctx):
        ctx.broadcast([1], "notice", 3000, quiet_until_ps=3000)
        yield ctx.wait(0)

    sim.spawn(0, announce)
    sim.spawn(1, quiet_receiver(after))
    with pytest.raises(EngineError, match=f"node b {what} at 1000 ps while handling message 'notice', whose sender "
                                          "promised that its handling causes nothing before 3000 ps"):
        sim.run()


def test_a_quiet_message_handled_within_its_promise_runs_as_a_plain_one():
    def run(quiet):
        sim, _state = make_sim(1, [0], names=("a", "b", "c"))

        def announce(ctx):
            ctx.broadcast([1, 2], "notice", 2000, quiet_until_ps=2000 if quiet else 0)
            yield ctx.wait(0)

        def receiver(ctx):
            msg = yield ctx.receive("notice")
            yield ctx.wait(msg.payload - ctx.now_ps)  # exactly until the promised time: allowed
            ctx.send(0, "done", ctx.node)
            ctx.log("sent", str(ctx.node))

        def collector(ctx):
            for _ in range(2):
                msg = yield ctx.receive("done")
                ctx.log("done", str(msg.payload))

        sim.spawn(0, announce)
        sim.spawn(0, collector)
        sim.spawn(1, receiver)
        sim.spawn(2, receiver)
        stats = sim.run()
        return sim.timeline, stats.num_events, stats.end_time_ps

    assert run(True) == run(False)
    assert run(True)[2] == 3000


def test_a_quiet_message_counts_at_its_quiet_time_in_the_promises():
    """Rank 0 (of 2, in one process) holds a and b; c is on rank 1, one link from b. A message waiting at a counts
    at its arrival plus a's distance to rank 1, or, quiet, at its quiet time plus that distance."""
    for quiet_ps, promise in ((0, 1000 + 2000), (50_000, 50_000 + 2000)):
        comm = TwoRanksOneProcess()
        network = Network.from_links([NodeSpec(name=n) for n in "abc"],
                                     {(0, 1): link_of_delay(1000), (1, 2): link_of_delay(1000)},
                                     num_ranks=2, placement=[0, 0, 1])
        sim = Simulator(network, comm=comm, state=None, qubit_owner=[], num_data_qubits=0, seed=0)
        sim._broadcast(sim.nodes[1], [0], "notice", None, quiet_ps)  # from b at 0 ps, at a at 1000 ps
        assert sim._promises(1000)[1] == promise


def test_rank_distances_are_shortest_paths_to_each_rank():
    import networkx as nx

    names = [f"n{i}" for i in range(7)]
    links = {(0, 1): LinkSpec(distance_km=1.0), (1, 2): LinkSpec(distance_km=2.0), (2, 3): LinkSpec(distance_km=0.5),
             (0, 3): LinkSpec(distance_km=5.0), (3, 4): LinkSpec(distance_km=1.5), (5, 6): LinkSpec(distance_km=1.0)}
    placement = [0, 1, 1, 2, 0, 2, 1]
    net = Network.from_links([NodeSpec(name=n) for n in names], links, num_ranks=3, placement=placement)
    graph = nx.Graph()
    graph.add_nodes_from(range(7))
    for (a, b), link in links.items():
        graph.add_edge(a, b, weight=link.delay_ps)
    lengths = dict(nx.all_pairs_dijkstra_path_length(graph))
    table = net.rank_distances_ps()
    for node in range(7):
        for rank in range(3):
            reach = [lengths[node][m] for m in range(7) if placement[m] == rank and m in lengths[node]]
            assert table[node][rank] == (min(reach) if reach else UNREACHABLE_PS)
    assert all(net.latency_ps(a, b) >= table[a][placement[b]] for a in range(5) for b in range(5))


def test_rank_distances_on_forests_are_shortest_paths_to_each_rank():
    """Forests (chains, trees, several components; some links at the minimum delay) take the two-pass route."""
    import random

    import networkx as nx

    rng = random.Random(3)
    for _ in range(60):
        num_nodes = rng.randint(1, 30)
        links = {(rng.randrange(v), v): LinkSpec(distance_km=rng.choice([0.1, 1.0, 2.5, 7.0]))
                 for v in range(1, num_nodes) if rng.random() < 0.85}
        num_ranks = rng.randint(1, 4)
        placement = [rng.randrange(num_ranks) for _ in range(num_nodes)]
        net = Network.from_links([NodeSpec(name=f"n{i}") for i in range(num_nodes)], links, num_ranks=num_ranks,
                                 placement=placement, min_link_delay_ps=rng.choice([0, 3_000_000]))
        assert net._tree is not None  # a forest
        graph = nx.Graph()
        graph.add_nodes_from(range(num_nodes))
        graph.add_weighted_edges_from((a, b, net.link_delay_ps(a, b)) for a, b in links)
        lengths = dict(nx.all_pairs_dijkstra_path_length(graph))
        table = net.rank_distances_ps()
        for node in range(num_nodes):
            for rank in range(num_ranks):
                reach = [lengths[node][m] for m in lengths[node] if placement[m] == rank]
                assert table[node][rank] == (min(reach) if reach else UNREACHABLE_PS)


def test_measurements_read_later_give_the_same_bits_on_any_number_of_ranks(timeline_checks):
    """measure_later: c goes on at once, a read blocks until the flush; bits and times as on one rank."""
    runs = timeline_checks["measure_later_check"]
    one = runs[0]
    assert len(one["bits"]) == 3 and len(set(one["bits"].tolist())) == 1  # a Bell pair: c, a and b agree
    bit = int(one["bits"][0])
    reads = {what: t for t, what in zip(one["time_ps"], one["what"])
             if what in (zlib.crc32(f"a-bits:({bit},)".encode()), zlib.crc32(f"c-bits:({bit},)".encode()))}
    assert sorted(reads.values()) == [1_000_000, 3_000_000]  # c reads at once, a on arrival (2 µs later)
    for other in runs[1:]:
        for key in one:
            assert np.array_equal(one[key], other[key]), key


def test_a_group_handed_back_during_an_exchange_in_flight_carries_the_later_operations(timeline_checks):
    """Operations issued on a shared group after posting the exchange that hands it back: same bits everywhere.

    On 2 ranks with ``PIPELINED_EXCHANGE`` rank 0 issues a flip and a
    measurement on a's qubit while the exchange that returns its group to
    rank 0 is in flight; without the carry rank 1 reads the bit of a state
    it dropped (1 instead of 0). The lockstep and 4 ranks (no hand-back: a is
    a boundary node there) for comparison.
    """
    one, two, four = timeline_checks["engine_handback_check"]
    runs = [one, two, timeline_checks["engine_handback_check:0"], four]
    assert one["bits"].tolist() == [0, 1, 0]  # a (flipped), b, c (a's bit, read on c's rank)
    for other in runs[1:]:
        for key in one:
            assert np.array_equal(one[key], other[key]), key


def test_nodes_running_past_a_blocked_node_keep_the_global_order_of_a_pair_held_back(timeline_checks):
    """``RUN_PAST_BLOCKED``: a rank's nodes run past one that waits for a flush; the same bits everywhere.

    On 2 ranks node 6 measures its half of a pair with node 5 while node 5
    is held back (it is 1 µs from node 4, which waits for its measurement):
    node 6's measurement then carries the pair's state and must wait, and
    node 5's, which comes first in the global order, installs it first
    (12 times per rank, once a round). Without that node 6's draw decides
    the pair, or node 5 measures a qubit with no state (other bits). The
    same run without ``RUN_PAST_BLOCKED``, 1 and 4 ranks for comparison.
    """
    one, two, four = timeline_checks["engine_run_past_check"]
    runs = [two, timeline_checks["engine_run_past_check:0"], four]
    assert runs[0]["installed"].tolist() == [24]  # the path under test was taken, on both ranks
    assert len(one["bits"]) == 36 and one["bits"].any()
    for other in runs:
        for key in ("time_ps", "node", "what", "end_ps", "bits"):
            assert np.array_equal(one[key], other[key]), key


def _random_density_matrix(seed: int) -> np.ndarray:
    """A full-rank 4x4 density matrix with complex coherences (not Bell diagonal), read only."""
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = g @ g.conj().T
    rho /= np.trace(rho).real
    rho.flags.writeable = False
    return rho


def test_bell_pair_with_an_exact_state_small_states_hold_it_exactly():
    """``ctx.bell_pair(a, b, rho)`` with a 4x4 state: two fresh network qubits hold ``rho`` itself (little-endian,
    the issuing node's qubit the low bit), and qubits already in a group in |0⟩ get it too (the channel of its
    eigen-decomposition on |00⟩); the peer's memory clock starts ``arrival_ps`` later. A wrong shape is refused."""
    rho = _random_density_matrix(3)
    network = make_network(t2_s=1e-6)
    sim = Simulator(network, comm=comm_mod.SingleComm(), state=None, qubit_owner=[0, 0, 1, 1], num_data_qubits=0)

    def a(ctx):
        ctx.bell_pair(0, 2, rho, arrival_ps=500)
        ctx.apply(gate_op("x", [1]))
        ctx.apply(gate_op("x", [1]))  # qubit 1: a group of its own, in |0⟩
        ctx.bell_pair(1, 3, rho)
        with pytest.raises(EngineError, match="4x4 density matrix"):
            ctx.bell_pair(1, 3, np.eye(2) / 2)
        yield ctx.wait(0)

    sim.spawn(0, a)
    sim.run()
    np.testing.assert_allclose(sim.memory.small.density_matrix([0, 2]), rho, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sim.memory.small.density_matrix([1, 3]), rho, rtol=0, atol=1e-14)
    assert sim.memory.last_touch_ps[2] == 500 and sim.memory.last_touch_ps[0] == 0


def _read_only(rho: np.ndarray) -> np.ndarray:
    rho = np.array(rho, dtype=np.complex128)
    rho.flags.writeable = False
    return rho


_PHI = np.array([1, 0, 0, 1]) / math.sqrt(2)


@pytest.mark.parametrize("rho", [_random_density_matrix(4),
                                 _read_only(0.7 * np.outer(_PHI, _PHI) + 0.3 * np.eye(4) / 4),  # Werner
                                 _read_only(np.diag([0.5, 0.25, 0.25, 0.0]))],  # degenerate, not Bell-diagonal
                         ids=["random", "werner", "degenerate"])
def test_bell_pair_with_an_exact_state_in_the_register_is_a_trajectory_of_it(rho):
    """The whole network in the register: each run prepares one state of ``rho``'s decomposition (a Werner pair:
    a Bell state; else an eigenvector, a degenerate eigenspace in its fixed basis), drawn with its weight as
    probability; the mean of |ψ⟩⟨ψ| over runs is ``rho``, element by element (3 s.e.)."""
    outers = []
    for trial in range(1500):
        sim, state = make_sim(2, [0, 1], seed=trial)

        def a(ctx):
            ctx.bell_pair(0, 1, rho)
            yield ctx.wait(0)

        sim.spawn(0, a)
        sim.run()
        vector = state.gather()
        outers.append(np.outer(vector, vector.conj()))
    outers = np.array(outers)
    for part in (np.real, np.imag):
        samples = part(outers)
        error = samples.std(axis=0, ddof=1) / math.sqrt(len(samples))
        assert np.all(np.abs(samples.mean(axis=0) - part(rho)) <= 3 * error + 1e-12)


def test_statistics_of_all_ranks_sum_key_by_key_in_first_seen_order():
    """The end of a run sums every rank's ctx.count statistics: shared keys add up, the others keep their
    value and type, keys stay in the order they first appear (checked against the plain key-by-key sum)."""
    from dqsim.engine.simulator import _sum_statistics

    rng = np.random.default_rng(7)
    keys = [("attempts", int(a), int(a) + 1) for a in rng.permutation(40)] + ["pairs", ("swaps", 3)]
    parts = []
    for _ in range(3):
        chosen = rng.choice(len(keys), size=25, replace=False)
        parts.append({keys[i]: (int(rng.integers(1, 9)) if i % 2 else float(rng.random())) for i in chosen})
    expected: dict = {}
    for part in parts:
        for key, value in part.items():
            expected[key] = expected.get(key, 0) + value
    merged = _sum_statistics(iter(parts))  # a generator of parts, as Simulator.run passes them
    assert list(merged) == list(expected)
    assert merged == expected
    assert [type(v) for v in merged.values()] == [type(v) for v in expected.values()]
    assert _sum_statistics([]) == {}


def test_an_ended_resumable_process_is_kept_only_if_its_class_says_so():
    """``Simulator.processes()`` lists ended resumable processes of classes with ``kept_after_end`` (QKD reads
    results from them); the others are forgotten when they end, as plain ones are (a repeater chain starts a
    link side per link end and attempt: kept, they would pile up in memory and in every checkpoint)."""
    from dqsim.engine.process import ResumableProcess

    class Timer(ResumableProcess):
        def __init__(self, delay_ps):
            self.delay_ps = delay_ps
            self.rang_ps = None

        def run(self, ctx):
            yield ctx.wait(self.delay_ps)
            self.rang_ps = ctx.now_ps

    class Forgotten(Timer):
        kept_after_end = False

    sim, _state = make_sim(1, [0], names=("a",))
    kept, forgotten = Timer(5), Forgotten(7)
    for process in (kept, forgotten):
        sim.spawn(0, process)
    sim.run()
    assert (kept.rang_ps, forgotten.rang_ps) == (5, 7)
    assert sim.processes() == [kept]


def test_ended_processes_leave_their_node_in_o1_and_the_rest_keep_start_order(monkeypatch):
    """A node's processes stay in start order when some end out of order, and ending one compares no handles (a
    dict's removal, not a list's search, which was quadratic in a hub's processes: ``Simulator._forget``); a
    checkpoint still saves them as a list in start order."""
    from dqsim.engine.process import ProcessHandle

    compared = []

    def counting_eq(self, other):
        compared.append((self, other))
        return self is other

    monkeypatch.setattr(ProcessHandle, "__eq__", counting_eq)  # identity, as before, but counted
    sim, _state = make_sim(1, [0], names=("a",))
    ended, order = [], []

    def timer(ctx, name, delay_ps):
        yield ctx.wait(delay_ps)
        order.append([h.args[0] for h in ctx._node.processes])
        ended.append(name)

    delays = {"p0": 50, "p1": 10, "p2": 40, "p3": 20, "p4": 30}
    for name, delay_ps in delays.items():
        sim.spawn(0, timer, name, delay_ps)
    node = sim.nodes[0]
    assert [h.args[0] for h in sim.node_snapshot(0)["processes"]] == list(delays)
    assert type(sim.node_snapshot(0)["processes"]) is list  # the saved format: a list, as before
    sim.run()
    assert ended == ["p1", "p3", "p4", "p2", "p0"]
    assert order == [list(delays), ["p0", "p2", "p3", "p4"], ["p0", "p2", "p4"], ["p0", "p2"], ["p0"]]
    assert not node.processes and compared == []


def test_a_checkpoint_s_list_of_processes_resumes_and_its_processes_end():
    """A saved node's processes are a list (every checkpoint's format, before and since 2026-12-07, late night):
    a resume makes them the node's processes in that order, and each one that ends leaves them."""
    sim, _state = make_sim(1, [0], names=("a",))
    ended = []

    def timer(ctx, name, delay_ps):
        yield ctx.wait(delay_ps)
        ended.append((name, ctx.now_ps))

    for name, delay_ps in (("p0", 30), ("p1", 10), ("p2", 20)):
        sim.spawn(0, timer, name, delay_ps)
    nodes, shared = {0: sim.node_snapshot(0)}, {**sim.global_snapshot(), "loop": None}  # (no checkpointer to go on)
    nodes[0]["processes"] = list(nodes[0]["processes"])  # as a checkpoint written before the dict holds them
    resumed, _state = make_sim(1, [0], names=("a",))
    resumed.load_snapshot(nodes, shared)
    assert [h.args[0] for h in resumed.nodes[0].processes] == ["p0", "p1", "p2"]
    resumed.run()
    assert ended == [("p1", 10), ("p2", 20), ("p0", 30)] and not resumed.nodes[0].processes


def test_a_flush_resolves_every_measurement_all_ranks_have_passed_in_key_order():
    """_last_passed: keys taken in (time, node, seq) order from the heap until one some rank has not passed.

    A rank passes time t when its progress is later, or equal while its earliest blocked node (at t) comes no
    earlier than the measuring node; the first key that fails ends the run even if a later one would pass
    another test, so no measurement is resolved before an operation ordered before it is issued."""
    import heapq

    from dqsim.engine.simulator import _last_passed

    free = (math.inf, 0)
    keys = [(30, 4, 0), (10, 2, 1), (20, 0, 0), (20, 3, 5), (10, 2, 0)]
    heap = list(keys)
    heapq.heapify(heap)
    # both ranks past 25: every key up to (20, 3, 5); 30 is not passed
    assert _last_passed(heap, [26, 40], [free, free]) == (20, 3, 5)
    # rank 1 at 20 held by its node 2 blocked at 20: (20, 0, 0) passes, (20, 3, 5) (node 3 > 2) does not
    assert _last_passed(heap, [26, 20], [free, (20, 2)]) == (20, 0, 0)
    # rank 1 at 20 but not held there (no node blocked at 20): nothing at 20 passes
    assert _last_passed(heap, [26, 20], [free, (25, 1)]) == (10, 2, 1)
    # nobody past 10: none
    assert _last_passed(heap, [10, 40], [free, free]) is None
    # one key: the heap's only entry
    assert _last_passed([(7, 1, 0)], [8], [free]) == (7, 1, 0)
