"""A heralding station's message travels its own link, not the route of least length.

The station of a heralded pair sits on the link between its two nodes; its herald reaches each end through
that link's fibre (one link delay after the emission for the midpoint schemes, two for ``"direct"``), and each
end acts on it its classical processing delay later. The responder's herald is a message from the initiator
(``epr.announce_pair``); before 2026-12-06 the engine sent it along the route of least length, so where a
detour is shorter than the link (a-b 100 km, a-c-b 2 km) the responder acted ~480 µs before the herald
existed. The other classical messages (the pair's handshake, swaps, teleportation) still take the route.
"""

import math
import re

import pytest

from dqsim import comm as comm_mod
from dqsim.network import topology
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.network.werner import werner_from_fidelity
from dqsim.units import ps_to_seconds
from mpi_helper import run_mpi_placements
from mpi_scripts import herald_link_check as check

T2_S = 1e-3  # (the memories of tests/mpi_scripts/herald_link_check.py)


def acted(timeline) -> dict[tuple[int, int, int], tuple[int, int, int, int]]:
    """``{(link, pair, node): (time acted, herald, created, attempts)}`` from the check's timeline."""
    out = {}
    for time_ps, node, kind, detail in timeline:
        if kind == "acted":
            link, pair, herald, created, attempts = map(int, re.findall(r"\d+", detail))
            out[(link, pair, node)] = (time_ps, herald, created, attempts)
    return out


@pytest.fixture(scope="module")
def one_rank():
    return check.run(comm_mod.SingleComm())


def test_the_detour_is_shorter_than_the_link():
    """The network of the check: the route a-b goes through c, whose messages take 2 km, not 100."""
    network = check.detour_network()
    link = check.LINKS[0][2]
    assert network.route(0, 1) == [0, 2, 1]
    assert network.latency_ps(0, 1) - check.PROCESSING_DELAY_PS[1] < link.delay_ps / 40
    assert network.link_latency_ps(0, 1) == link.delay_ps + check.PROCESSING_DELAY_PS[1]


def test_repro_the_responder_acts_on_the_herald_of_its_link_not_of_the_detour(one_rank):
    """Every end of every pair acts exactly ``h + c`` after the emission, ``h`` the link's herald delay (its
    delay ``d``, or ``2d`` for direct) and ``c`` its node's processing delay. Before, the responder b of the
    100 km a-b link acted 2 km of fibre (9.8 µs) + c after the emission, 480 µs before the herald existed."""
    timeline, _probes, _end_ps = one_rank
    seen = acted(timeline)
    assert len(seen) == 2 * len(check.LINKS) * check.PAIRS_PER_LINK
    for (link_index, pair, node), (time_ps, herald, created, _attempts) in seen.items():
        initiator, responder, link = check.LINKS[link_index]
        assert node in (initiator, responder)
        assert herald == created + link.herald_delay_ps
        assert time_ps == created + link.herald_delay_ps + check.PROCESSING_DELAY_PS[node], (link_index, pair, node)
    long_link = check.LINKS[0][2]
    assert long_link.herald_delay_ps == long_link.delay_ps == round(1.468 * 100e3 / 299_792_458 * 1e12)  # n_g·L/c


def test_repro_the_responder_holds_the_pair_as_long_as_the_link_makes_it_wait(one_rank):
    """The a-b pair (double click, no dark counts: a Werner state of parameter w) in memories with T2 = 1 ms,
    read when b acts, h + c_b after the emission: each memory dephases for that long, so

        F = w·(1 + e^(−2(h + c_b)/T2))/2 + (1 − w)/4,

    exact to 1e-12 (small states are exact). Before, b read it at 2·d(1 km) + c_b: F = 0.987 instead of 0.687."""
    _timeline, probes, _end_ps = one_rank
    link = check.LINKS[0][2]
    w = werner_from_fidelity(link.delivered_fidelity)
    waited_s = ps_to_seconds(link.herald_delay_ps + check.PROCESSING_DELAY_PS[1])
    expected = w * (1 + math.exp(-2 * waited_s / T2_S)) / 2 + (1 - w) / 4
    for pair in range(check.PAIRS_PER_LINK):
        assert probes[f"0.{pair}.responder"] == pytest.approx(expected, abs=1e-12)
    assert expected < 0.7


def test_the_handshake_still_takes_the_route(one_rank):
    """The reservation request and its answer are messages between a and b: they go a-c-b (2 km each way,
    each with the receiver's processing delay), so the first attempt on a-b comes 4·d(1 km) + c_b + c_a after
    the start, and the successful one ``attempts − 1`` attempt periods later."""
    timeline, _probes, _end_ps = one_rank
    _time, _herald, created, attempts = acted(timeline)[(0, 0, 0)]
    link, short = check.LINKS[0][2], check.LINKS[1][2]
    handshake = 4 * short.delay_ps + check.PROCESSING_DELAY_PS[1] + check.PROCESSING_DELAY_PS[0]
    assert created == handshake + (attempts - 1) * link.attempt_period_ps


@pytest.mark.parametrize("build", [
    lambda link: topology.line(5, link=link), lambda link: topology.ring(6, link=link),
    lambda link: topology.star(5, link=link), lambda link: topology.grid(3, 3, link=link),
    lambda link: topology.all_to_all(4, link=link),
], ids=["line", "ring", "star", "grid", "all_to_all"])
def test_where_the_route_is_the_link_the_herald_is_as_late_as_before(build):
    """Built-in topologies with one link length: every link is the route between its nodes, so the herald's
    latency along the link is the route's latency the engine gave it before, both ways (the example jobs'
    tables were compared with those of the code before: equal, but the wall-clock timing, 2026-12-06)."""
    graph = build(LinkSpec(distance_km=3.7))
    nodes = [NodeSpec(name=name, classical_processing_delay_ps=1_000 * index) for index, name in enumerate(graph.nodes)]
    network = Network(graph, nodes)
    for a, b in network.links:
        for x, y in ((a, b), (b, a)):
            assert network.route(x, y) == [x, y]
            assert network.link_latency_ps(x, y) == network.latency_ps(x, y)


CONFIGS = [(1, None), (2, None), (2, "0,1,1"), (2, "0,1,0")]


def test_the_heralds_give_the_same_events_on_one_and_two_ranks(tmp_path):
    """The check on 1 and 2 ranks, with b on a rank of its own, with c, or with a and c on the other: the same
    timeline, probes and end time (the herald along the link is later than the shortest path the engine's
    lookahead counts on, never earlier)."""
    runs = run_mpi_placements(CONFIGS, "tests/mpi_scripts/herald_link_check.py", tmp_path)
    one = runs[(1, None)]
    assert set(one) == {"time_ps", "node", "what", "probe_keys", "probes", "end_ps"}
    for config in CONFIGS[1:]:
        other = runs[config]
        for key, value in one.items():
            assert (value == other[key]).all(), (config, key)
