"""The key spent on authenticating the classical channel (:mod:`dqsim.protocols.qkd.authentication`,
:mod:`dqsim.scenarios.qkd_auth`): the tag length of polynomial hashing against a hand-worked value, the
classical messages a block counts against the messages the engine carried, the net key clipped at 0 with a
warning, and the tables' other columns unchanged by the choice.

1 and 2 ranks giving the same ``blocks``, ``links``, ``end_to_end`` and ``relay_links`` tables (these columns
included) is checked by ``tests/test_qkd_coexistence_ranks.py``.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd.authentication import forgery_probability, relay_authentication, tag_bits
from dqsim.scenarios import qkd as qkd_scenario
from dqsim.scenarios.qkd_auth import (BLOCK_AUTH_FIELDS, HOP_AUTH_FIELDS, LINK_AUTH_FIELDS, ROUTE_AUTH_FIELDS,
                                     route_columns, short_route_warning)
from mpi_helper import ROOT

NUMPY = backend_mod.select("numpy")
#: 2 blocks of 4 batches, 10 km, Cascade: rounds in every block.
SMALL = ["qkd.pulses=80000", "qkd.batch_pulses=10000", "qkd.block_pulses=40000", "qkd.link.distance_km=10.0",
         'qkd.error_correction="cascade"']


def run(*overrides, job_file="bb84_decoy_50km.toml"):
    job = apply_overrides(load_job(ROOT / "jobs" / job_file), [*SMALL, *overrides])
    return job, qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=NUMPY)


def test_tag_length_of_a_megabit_message_is_48_bits_at_eps_1e_10():
    """Hand-worked: L = 10^6 bits, ε = 1e-10. n = 47: ⌈10^6/47⌉ + 1 = 21,278 blocks, 21,278 · 2^-47 =
    1.51e-10 > ε; n = 48: 20,834 + 1 = 20,835, · 2^-48 = 7.40e-11 <= ε."""
    assert math.ceil(1e6 / 47) + 1 == 21_278 and math.ceil(1e6 / 48) + 1 == 20_835
    assert forgery_probability(1_000_000, 47) == pytest.approx(1.512e-10, rel=1e-3)
    assert forgery_probability(1_000_000, 48) == pytest.approx(7.402e-11, rel=1e-3)
    assert tag_bits(1_000_000, 1e-10) == 48
    for bits in (0, 1, 64, 10**3, 10**6, 10**9):  # the shortest tag that meets ε, at several ε
        for eps in (1e-3, 1e-10, 2.0**-64, 1e-30):
            n = tag_bits(bits, eps)
            assert forgery_probability(bits, n) <= eps < forgery_probability(bits, n - 1) if n > 1 else True
    # the message's length enters through its logarithm: a thousand times longer, 10 bits more
    assert tag_bits(10**9, 1e-10) - tag_bits(10**6, 1e-10) == 10


def test_relay_hop_j_carries_j_announcements():
    hops = relay_authentication(4, 5_000, "per_message", 1e-10)
    assert [h.num_tags for h in hops] == [0, 1, 2, 3]
    assert [h.key_bits for h in hops] == [0, tag_bits(5_000, 1e-10), 2 * tag_bits(5_000, 1e-10),
                                          3 * tag_bits(5_000, 1e-10)]
    assert [h.num_tags for h in relay_authentication(4, 5_000, "per_block", 1e-10)] == [0, 1, 1, 1]


def test_block_counts_the_messages_the_engine_carried_and_tags_them_per_block_or_per_message():
    """One link, one rank: the engine's messages are each batch's pulses (the quantum channel) and the classical
    messages, which the blocks' ``classical_messages`` count (4 reports + 4 + 2 × Cascade rounds each), and a
    block-done note a block inside Alice."""
    _job, per_block = run()
    blocks, attrs = per_block.tables["blocks"], per_block.attrs
    assert len(blocks) == 2 and (blocks["ec_rounds"] > 0).all()
    assert blocks["classical_messages"].tolist() == (4 + 4 + 2 * blocks["ec_rounds"]).tolist()
    # + one "block-done" note a block from Alice's block process to her source (not a channel message)
    assert attrs["engine_messages"] == 8 + blocks["classical_messages"].sum() + len(blocks)
    assert (blocks["auth_tags"] == 2).all() and (blocks["eps_auth"] == 2e-10).all()
    assert np.isnan(blocks["eps_total"]).all()  # asymptotic: no ε to add to
    _job, per_message = run('qkd.authentication="per_message"', "qkd.security=\"finite_key\"")
    b = per_message.tables["blocks"]
    assert (b["auth_tags"] == b["classical_messages"]).all()
    assert (b["auth_key_bits"] > 4 * blocks["auth_key_bits"]).all()  # > 16 tags against 2
    assert np.allclose(b["eps_total"], 1e-10 + 1e-15 + b["auth_tags"] * 1e-10, rtol=1e-12)


#: The columns the tags' time on the classical channel moves (since 2026-12-07).
TIMES = {"blocks": {"time_key_ps", "key_ready_ps"}, "links": {"simulated_time_ps"},
         "end_to_end": {"key_available_ps"}, "relay_links": set()}


def test_authentication_changes_no_other_column():
    """``"none"`` against the default: every column but the new ones and the times equal; net = key - tags' key;
    each block's key phase longer by its two tags' bits at 1 Gbit/s (Alice's on her last Cascade answer, Bob's
    on his acknowledgement: whole bits, 1,000 ps each)."""
    _job, none = run('qkd.authentication="none"')
    _job, default = run()
    new = {"blocks": BLOCK_AUTH_FIELDS, "links": LINK_AUTH_FIELDS, "end_to_end": ROUTE_AUTH_FIELDS,
           "relay_links": HOP_AUTH_FIELDS}
    for name, fields in new.items():
        a, b = none.tables[name], default.tables[name]
        for field in a.dtype.names:
            if field not in {f for f, _ in fields} | TIMES[name]:
                assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), (name, field)
    a, b = none.tables["blocks"], default.tables["blocks"]
    assert (b["time_key_ps"] - a["time_key_ps"] == 1000 * b["auth_key_bits"]).all()
    assert none.tables["links"]["preshared_auth_key_bits"][0] == 0
    assert default.tables["links"]["preshared_auth_key_bits"][0] >= b["auth_key_bits"][0]
    for name in ("blocks", "links"):
        a, b = none.tables[name], default.tables[name]
        assert (a["auth_key_bits"] == 0).all() and (a["net_key_bits"] == a["secret_key_bits"]).all()
        assert (b["auth_key_bits"] > 0).all()
        assert (b["net_key_bits"] == b["secret_key_bits"] - b["auth_key_bits"]).all()
        assert np.allclose(b["net_key_rate_bits_per_s"] / b["key_rate_bits_per_s"],
                           b["net_key_bits"] / b["secret_key_bits"], rtol=1e-12)
    assert default.attrs["total_net_key_bits"] == default.attrs["total_secret_key_bits"] - \
        default.attrs["total_auth_key_bits"]
    assert none.attrs.get("warnings") == default.attrs.get("warnings")


def test_key_smaller_than_the_tags_gives_net_zero_and_a_warning():
    """At 60 km the two blocks make a few hundred key bits; every message tagged at eps_auth = 1e-30 costs more."""
    _job, out = run("qkd.link.distance_km=60.0", 'qkd.authentication="per_message"', "qkd.eps_auth=1e-30",
                    "qkd.pulses=400000", "qkd.batch_pulses=50000", "qkd.block_pulses=200000")
    (link,) = out.tables["links"]
    assert 0 < link["secret_key_bits"] < link["auth_key_bits"] and link["net_key_bits"] == 0
    assert link["net_key_rate_bits_per_s"] == 0.0
    assert (out.tables["blocks"]["net_key_bits"] >= 0).all()
    assert "60 km link 0: authentication (per_message) spends" in out.attrs["warnings"]
    assert any(line.startswith("  WARNING: 60 km link 0: authentication (per_message) spends ")
               and line.endswith("net key 0 (the tags' pads come from key made before or pre-shared)")
               for line in out.summary)


def test_trusted_chain_pays_the_relays_announcement_tags_from_the_hop_after_it():
    job, out = run("qkd.link.distance_km=0.0", 'qkd.network={topology="chain", num_nodes=3, distances_km=[10.0, 20.0]}',
                   job_file="qkd_trusted_chain.toml")
    links, (end,), relay = out.tables["links"], out.tables["end_to_end"], out.tables["relay_links"]
    net = links["net_key_bits"]
    announcement = tag_bits(int(net.min()), job.qkd.eps_auth)  # one tag, hop 1, for a key of min(net) bits
    assert end["relay_auth_key_bits"] == announcement and relay["auth_key_bits"].tolist() == [0, announcement]
    assert end["net_key_bits"] == min(net[0], net[1] - announcement) > 0
    assert relay["net_key_left_bits"].tolist() == [net[0] - end["net_key_bits"],
                                                   net[1] - end["net_key_bits"] - announcement]
    assert end["secret_key_bits"] == links["secret_key_bits"].min()  # the existing column, unchanged


def test_a_route_whose_relay_tags_leave_no_key_relays_none_and_warns():
    q = SimpleNamespace(authentication="per_message", eps_auth=1e-10)
    tag = tag_bits(4_000, 1e-10)
    (spent, end, rate), hops = route_columns(q, [5_000, 4_000], 2.0)
    assert (spent, end, rate) == (tag, 4_000 - tag, (4_000 - tag) / 2.0)
    assert hops == [(0, 5_000 - end), (tag, 0)]
    (spent, end, rate), hops = route_columns(q, [100, 30], 2.0)  # a 30-bit key cannot pay its ~36-bit tag
    assert (spent, end, rate) == (0, 0, 0.0) and hops == [(0, 100), (0, 30)]
    assert short_route_warning("end to end a–b", "per_message", 30, 0) == [
        "end to end a–b: authentication (per_message: the links' tags and the relay's announcements') leaves none "
        "of the 30 relayed key bits: net key 0"]
    assert short_route_warning("end to end a–b", "per_message", 0, 0) == []  # no key to begin with: no line


def test_many_decoy_warnings_leave_the_authentication_warning_listed():
    """90 blocks of 20,000 pulses at 20 km with 1 % decoys: more than 64 blocks warn of few decoy detections (and of
    their spread); the link's tags at eps_auth = 1e-30 spend more than its key. The cap is per kind, so the
    authentication warning stays in the attribute and the tail counts each capped kind."""
    _job, out = run("qkd.link.distance_km=20.0", 'qkd.authentication="per_message"', "qkd.eps_auth=1e-30",
                    "qkd.pulses=1800000", "qkd.batch_pulses=10000", "qkd.block_pulses=20000",
                    "qkd.source.probabilities=[0.98, 0.01, 0.01]")
    blocks = out.tables["blocks"]
    decoy = int(((blocks["detections_decoy"] < qkd_scenario.MIN_DECOY_DETECTIONS)
                 & (blocks["secret_key_bits"] > 0)).sum())
    assert decoy > qkd_scenario.MAX_WARNINGS_LISTED
    warnings = out.attrs["warnings"]
    assert "20 km link 0: authentication (per_message) spends" in warnings
    assert warnings.count("decoy detections (<") == qkd_scenario.MAX_WARNINGS_LISTED
    assert (f"and {decoy - qkd_scenario.MAX_WARNINGS_LISTED:,} more decoy warnings (of {decoy:,})"
            in warnings.split("; ")[-1])
    assert "authentication" not in warnings.split("; ")[-1]  # one authentication warning: listed, not counted
