"""Trusted-node relaying: when the end-to-end key exists at both ends (``end_to_end``'s ``key_available_ps``)
and what each link of the route keeps (``relay_links``' ``key_left_bits``, one row per hop), against the formula of
:mod:`dqsim.scenarios.qkd_relay` (SECOQC: Peev et al., NJP 11, 075001 (2009)) written out here from the
``links`` table, the fibre's n_g·L/c and the job's classical bit rate.

1 and 2 ranks giving the same ``end_to_end`` table (these columns included) is checked on a 3-node trusted chain
by ``tests/test_qkd_coexistence_ranks.py``.
"""

from __future__ import annotations

import math
import random

import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.cli.main import main
from dqsim.io.units import table_units
from dqsim.jobs import apply_overrides, load_job
from dqsim.scenarios import qkd as qkd_scenario
from dqsim.scenarios import qkd_relay
from dqsim.scenarios.qkd_relay import relayed_key_time_ps
from dqsim.units import SPEED_OF_LIGHT_M_PER_S
from mpi_helper import ROOT

NUMPY = backend_mod.select("numpy")
SMALL = ["qkd.pulses=200000", "qkd.batch_pulses=100000"]


def run(*overrides):
    job = apply_overrides(load_job(ROOT / "jobs" / "qkd_trusted_chain.toml"), [*SMALL, *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=NUMPY)


def hop_ps(job, distance_km: float, bits: int) -> int:
    """One hop of an announcement: n_g·L/c (to the ps) plus ``bits`` at the classical bit rate."""
    flight = job.qkd.link.group_index * distance_km * 1e3 / SPEED_OF_LIGHT_M_PER_S * 1e12
    return round(flight) + math.ceil(bits * 1e12 / job.qkd.classical_bit_rate_hz)


def test_chain_key_exists_one_hop_after_the_later_link_and_the_faster_link_keeps_the_rest():
    """Chain 20 + 60 km (the review's case): node 1 announces once both keys exist, over the 60 km hop;
    link 0 keeps its key less the relayed key, link 1 (the slower) nothing."""
    job, out = run("qkd.network.distances_km=[20.0, 60.0]")
    links, (end,) = out.tables["links"], out.tables["end_to_end"]
    t, keys = links["simulated_time_ps"], links["secret_key_bits"]
    bits = int(keys.min())
    assert bits > 0 and end["secret_key_bits"] == bits  # the existing column, unchanged
    relay = out.tables["relay_links"]
    tag = int(relay["auth_key_bits"][1])  # per_block: the hop's one tag, on its one announcement (since 2026-12-07)
    assert tag > 0 and end["key_available_ps"] == max(t[0], t[1]) + hop_ps(job, 60.0, bits + tag)
    assert end["key_available_ps"] > t.max()
    assert relay["hop"].tolist() == [0, 1] and relay["link"].tolist() == [0, 1]
    assert (relay["node_a"] == end["node_a"]).all() and (relay["node_b"] == end["node_b"]).all()
    assert relay["key_left_bits"].tolist() == [keys[0] - bits, keys[1] - bits]
    assert sorted(relay["key_left_bits"].tolist())[0] == 0
    assert table_units(out.tables["end_to_end"].dtype)["key_available_ps"] == "ps"
    units = table_units(relay.dtype)
    assert units["key_left_bits"] == "bit" and "link" not in units and "hop" not in units


def test_star_pair_key_exists_after_both_leaves_and_the_hub_to_the_second_leaf():
    """Star, hub + leaves at 10, 30, 50 km, a slow classical channel (1e7 bit/s: the announcement's
    transmission counts too): row (a, b) is ready one hub→b hop after both leaves' keys; each row's
    ``key_left_bits`` is what its two links keep if that pair alone is relayed."""
    job, out = run('qkd.network={topology="star", num_nodes=4, distances_km=[10.0, 30.0, 50.0]}',
                   "qkd.classical_bit_rate_hz=1e7")
    links, ends = out.tables["links"], out.tables["end_to_end"]
    t, keys, length = links["simulated_time_ps"], links["secret_key_bits"], links["distance_km"]
    leaf_link = {int(row["node_b"]): i for i, row in enumerate(links)}  # the hub is node 0
    assert len(ends) == 3
    for end in ends:
        la, lb = leaf_link[int(end["node_a"])], leaf_link[int(end["node_b"])]
        bits = min(keys[la], keys[lb])
        assert end["secret_key_bits"] == bits > 0
        relay = out.tables["relay_links"]
        mine = relay[(relay["node_a"] == end["node_a"]) & (relay["node_b"] == end["node_b"])]
        tag = int(mine["auth_key_bits"][1])
        assert end["key_available_ps"] == max(t[la], t[lb]) + hop_ps(job, length[lb], bits + tag)
        assert mine["hop"].tolist() == [0, 1] and mine["link"].tolist() == [la, lb]
        assert mine["key_left_bits"].tolist() == [keys[la] - bits, keys[lb] - bits]


def test_forwarded_announcements_and_hop_by_hop_reencryption_give_the_same_time():
    """Four hops with their keys ready out of order, no two announcements on a hop at once: the closed form
    equals SECOQC's hop-by-hop transport, where node k forwards the key re-encrypted with link k's key once it
    has the key and link k's key."""
    times, delays, bits, rate = [9_000, 1_000, 20_000, 3_000], [0, 500, 700, 4_000], 3, 1e9
    send = math.ceil(bits * 1e12 / rate)
    arrives = times[0]  # node 1 has the key once link 0's key exists
    for k in range(1, len(times)):
        arrives = max(arrives, times[k]) + delays[k] + send
    assert relayed_key_time_ps(times, delays, bits, rate) == arrives == 30_700


def fifo_hops(handed, delays, free, send, tags, each=0):
    """The relay's announcements hop by hop (:mod:`dqsim.scenarios.qkd_relay`'s model, written out): hop j takes
    node j's announcement at ``handed[j]`` and the earlier nodes' as they arrive, in that order (ties: the
    nearer ``node_a``), from ``free[j]``; each takes ``send(tag bits)`` (``each`` bits on every one, ``tags[j]`` more
    on the hop's last) and the hop's delay. Returns the arrivals at ``node_b``: one by one, m(m - 1)/2 steps for
    m hops (the scenario's own code until 2026-12-07, later that day)."""
    queue = []
    for j in range(1, len(delays)):
        queue = sorted(queue + [(handed[j], j)])
        out, busy = [], free[j]
        for place, (t, origin) in enumerate(queue):
            busy = max(t, busy) + send(each + (tags[j] if place == len(queue) - 1 else 0))
            out.append((busy + delays[j], origin))
        queue = out
    return [t for t, _origin in queue]


def test_announcements_queue_behind_the_link_s_messages_and_each_other():
    """Chain 80 + 80 + 10 km at 1e6 bit/s: the 10 km link's many clicks make its reports the longest, so it ends
    last (0.37 s against 0.04 s), and an announcement (~150 bits with its tag, ~0.15 ms) takes longer than its
    round trip (0.1 ms). Node 1's announcement reaches the 10 km hop while that link still post-processes and
    waits for its last message towards node_b (f = its last key, less a round trip: with the leakage modelled the
    key message and acknowledgement take no channel time), and node 2's, handed over when link 2's key exists,
    waits behind it; the per_block tag rides on the hop's last announcement. Before 2026-12-07 (later that day) neither
    waited, nor did the tags take time."""
    job, out = run("qkd.network.num_nodes=4", "qkd.network.distances_km=[80.0, 80.0, 10.0]",
                   "qkd.classical_bit_rate_hz=1e6", 'qkd.error_correction="model"')
    links, (end,) = out.tables["links"], out.tables["end_to_end"]
    t, keys = [int(x) for x in links["simulated_time_ps"]], links["secret_key_bits"]
    bits = int(keys.min())
    delays = [round(job.qkd.link.group_index * d * 1e3 / SPEED_OF_LIGHT_M_PER_S * 1e12)
              for d in links["distance_km"]]
    blocks = out.tables["blocks"]
    free = [int(blocks["key_ready_ps"][blocks["link"] == j].max()) - 2 * delays[j] for j in range(3)]
    tags = [int(x) for x in out.tables["relay_links"]["auth_key_bits"]]
    handed = [None] + [max(t[k - 1], t[k]) for k in (1, 2)]

    def send(tag):
        return math.ceil((bits + tag) * 1e12 / 1e6)

    arrivals = fifo_hops(handed, delays, free, send, tags)
    assert end["key_available_ps"] == max([t[0]] + arrivals)
    assert handed[1] + delays[1] + send(0) < free[2] < handed[2] < free[2] + send(0)  # both waits happen
    unqueued = max(t[0], handed[1] + 2 * send(0) + delays[1] + delays[2], handed[2] + send(0) + delays[2])
    assert end["key_available_ps"] > unqueued


@pytest.mark.parametrize("seed", range(4))
def test_the_busy_periods_give_the_announcements_one_by_one_on_random_routes(seed):
    """:func:`relayed_key_time_ps` keeps each hop's queue as its busy periods; on 2,000 random routes of 1-12 hops
    (keys, delays and channels' free times far apart, close or equal; announcements of 0-10 bits; no tags, a tag
    on each, one on each hop's last, or both) it gives :func:`fifo_hops`' time to the ps, ties included."""
    rng = random.Random(seed)
    for _ in range(2_000):
        hops, span = rng.randint(1, 12), rng.choice([1, 5, 50, 1_000, 10**6])
        times = [rng.randint(0, span) for _ in range(hops)]
        delays = [rng.choice([0, rng.randint(0, span)]) for _ in range(hops)]
        bits, rate = rng.choice([0, 1, 3, 10]), rng.choice([1e12, 3e11, 1e9])
        free = [rng.choice([0, rng.randint(0, 2 * span)]) for _ in range(hops)]
        each, last = rng.choice([0, 1, 5]), [rng.choice([0, 1, 7]) for _ in range(hops)]
        handed = [None] + [max(times[k - 1], times[k]) for k in range(1, hops)]

        def send(tag, bits=bits, rate=rate):
            return math.ceil((bits + tag) * 1e12 / rate)

        expected = max([times[0]] + fifo_hops(handed, delays, free, send, last, each))
        tags = [(0, 0)] + [(each, x) for x in last[1:]]
        assert relayed_key_time_ps(times, delays, bits, rate, hop_free_ps=free, hop_tags_bits=tags) == expected


@pytest.mark.parametrize("block", [1, 2, 5])
def test_long_routes_whose_periods_fill_several_blocks_give_the_announcements_one_by_one(monkeypatch, block):
    """The busy periods are kept in sorted blocks (``qkd_relay.PERIOD_BLOCK``, 512; here 1, 2 or 5 so that
    routes of 60-250 hops split and empty blocks): keys rising or falling by a little a hop (a chain of equal
    links: every announcement handed over at the front of the queue, where a list insertion moved every period
    until 2026-12-07, afternoon), all equal, or random; each gives :func:`fifo_hops`' time to the ps."""
    monkeypatch.setattr(qkd_relay, "PERIOD_BLOCK", block)
    rng = random.Random(block)
    for kind in ("rising", "falling", "equal", "random", "random", "random"):
        hops = rng.randint(60, 250)
        step = rng.choice([1, 40, 1_000])
        times = {"rising": [10**6 + step * k for k in range(hops)],
                 "falling": [10**6 + step * (hops - k) for k in range(hops)], "equal": [10**6] * hops,
                 "random": [rng.randint(0, rng.choice([50, 10**4, 10**6])) for _ in range(hops)]}[kind]
        delays = [rng.choice([0, 20, 150]) for _ in range(hops)]
        free = [rng.choice([0, 10**6, 10**6 + 3_000]) for _ in range(hops)]
        bits, each, last = rng.choice([1, 3]), rng.choice([0, 2]), [rng.choice([0, 0, 4]) for _ in range(hops)]
        handed = [None] + [max(times[k - 1], times[k]) for k in range(1, hops)]

        def send(tag, bits=bits):
            return math.ceil((bits + tag) * 1e12 / 1e12)

        expected = max([times[0]] + fifo_hops(handed, delays, free, send, last, each))
        tags = [(0, 0)] + [(each, x) for x in last[1:]]
        assert relayed_key_time_ps(times, delays, bits, 1e12, hop_free_ps=free, hop_tags_bits=tags) == expected, kind
    queue = qkd_relay._BusyPeriods(send_ps=10)  # announcements handed over ever earlier (as the offset grows)
    for k in range(40):
        queue.hand_over(10**6 - 100 * k, 0)
    assert len(queue.periods.starts) >= 40 // (2 * block) > 1 and sum(map(len, queue.periods.counts)) == 40


def test_a_route_whose_hops_tag_each_announcement_differently_is_refused():
    """The busy periods take one length for every announcement but a hop's last, as the relay's tags give."""
    with pytest.raises(ValueError, match="hop_tags_bits"):
        relayed_key_time_ps([0, 0, 0], [1, 1, 1], 8, 1e9, hop_tags_bits=[(0, 0), (1, 0), (2, 0)])


def test_runs_with_routes_of_different_lengths_merge(tmp_path):
    """``relay_links`` is a table in long form (a row per hop), so a 3-node and a 4-node chain still merge
    (``dqsim merge``), as they did before the relay columns."""
    outs = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for out, nodes in zip(outs, ([20.0, 60.0], [20.0, 20.0, 20.0])):
        assert main(["run", str(ROOT / "jobs" / "qkd_trusted_chain.toml"), "-o", str(out), "--quiet",
                     *[x for o in SMALL for x in ("--set", o)], "--set", f"qkd.network.num_nodes={len(nodes) + 1}",
                     "--set", f"qkd.network.distances_km={nodes}"]) == 0
    assert main(["merge", str(tmp_path / "m.h5"), *map(str, outs)]) == 0
