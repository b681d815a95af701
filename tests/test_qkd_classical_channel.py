"""A link's classical channel is one FIFO queue per direction, shared by the key blocks in post-processing at once.

Until 2026-12-07 each error-correction message took its own transmission time as if it had the channel to
itself, so 16 blocks in post-processing each had the whole ``[qkd].classical_bit_rate_hz``. Now a message waits
for the messages handed to its direction of the channel before it (:mod:`dqsim.protocols.qkd.classical_channel`),
and the authentication tags' bits travel with their messages (:func:`dqsim.protocols.qkd.authentication.
message_tags`); the pre-shared key the first tags need is reported per link (``preshared_auth_key_bits``).

The closed form (BB84 at 20 km, the leakage modelled, so a block's only timed messages are its key message
(Alice -> Bob, K_k) and its acknowledgement (Bob -> Alice, A_k), here given by hand): block k's emission ends at
e_k = (k + 1)T and Alice sends its key message at e_k + 4d (sifting and estimation, d the fibre delay). With
K_0 > T block 1's key message waits until block 0's has left, and with A_0 > K_1 its acknowledgement waits
for block 0's:

    key_ready_0 = T + 6d + K_0 + A_0,   key_ready_1 = key_ready_0 + A_1

(unqueued, as before: key_ready_1 = 2T + 6d + K_1 + A_1).
"""

import pickle

import numpy as np
import pytest

from dqsim.errors import DqsimError
from dqsim.io import open_run
from dqsim.jobs import load_job
from dqsim.network.fibre import propagation_delay_ps
from dqsim.protocols.qkd import authentication, nodes
from dqsim.protocols.qkd.classical_channel import ClassicalChannel, queued_delay_ps
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT, run_here, run_mpi

D_PS = propagation_delay_ps(20.0, 1.468)  # 20 km
T_PS = 100_000_000                        # a block of 1e5 pulses at 1 GHz
SMALL = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=200000", "--set", "qkd.block_pulses=100000",
         "--set", "qkd.batch_pulses=50000", "--set", "qkd.link.distance_km=20.0"]
K_PS = (T_PS + 3_000_000, 500_000)        # the two blocks' key messages, ps
A_PS = (2_000_000, 700_000)               # their acknowledgements, ps


class _Clock:
    """What :meth:`ClassicalChannel.send` needs of the engine's context: the time, and a send that records."""

    def __init__(self):
        self.now_ps, self.sent = 0, []

    def send(self, dest, tag, payload=None, *, extra_delay_ps=0):
        self.sent.append((self.now_ps, tag, extra_delay_ps))
        return self.now_ps + extra_delay_ps + 7  # a fibre delay of 7 ps


def test_a_message_waits_for_the_one_before_it_and_an_idle_channel_changes_nothing():
    ctx, channel = _Clock(), ClassicalChannel()
    ctx.now_ps = 100
    assert channel.send(ctx, 1, "a", transmission_ps=50) == 157          # free: its own 50 ps
    ctx.now_ps = 120
    assert channel.send(ctx, 1, "b", transmission_ps=10) == 167          # waits 30 ps, then 10 ps
    assert channel.send(ctx, 1, "c", transmission_ps=0) == 167           # an empty message still waits
    ctx.now_ps = 500
    assert channel.send(ctx, 1, "d", transmission_ps=5) == 512           # idle again: no wait
    assert [extra for _t, _tag, extra in ctx.sent] == [50, 40, 40, 5] and channel.free_ps == 505
    assert queued_delay_ps(10, 0, 0) == (0, 10)


def test_repro_two_blocks_whose_messages_collide_follow_the_closed_form(monkeypatch, tmp_path):
    """Block 1's key message waits K_0 - T behind block 0's, and its acknowledgement behind block 0's: its key
    exists A_1 after block 0's (before 2026-12-07: 2T + 6d + K_1 + A_1, 0.10 ms earlier)."""
    given = iter([(K_PS[k], 0, 0, 0, A_PS[k]) for k in range(2)])
    monkeypatch.setattr(nodes, "ec_message_delays_ps", lambda done, q, tags=authentication.NO_TAGS: next(given))
    run_here(["run", *SMALL, "--set", 'qkd.error_correction="model"', "-o", str(tmp_path / "x.h5"), "--quiet"])
    run = open_run(tmp_path / "x.h5")
    blocks = run.table("blocks")
    first = T_PS + 6 * D_PS + K_PS[0] + A_PS[0]
    assert blocks["key_ready_ps"].tolist() == [first, first + A_PS[1]]
    assert blocks["time_estimation_ps"].tolist() == [2 * D_PS] * 2  # (untimed: not held up by the channel)
    assert blocks["time_key_ps"][1] == K_PS[0] - T_PS + A_PS[0] + A_PS[1] + 2 * D_PS
    assert run.table("links")["simulated_time_ps"][0] == first + A_PS[1]


def test_colliding_cascade_blocks_wait_the_same_on_one_and_two_ranks(tmp_path):
    """Cascade at 1 Mbit/s (messages of some 0.1 ms against 0.1 ms blocks): some blocks' messages wait for
    another block's (their key phase is longer than their own crossings, messages and tags, the closed form of
    a block alone), and the tables are the same on two ranks (Alice's and Bob's ends on different ranks, each
    keeping its own direction's queue)."""
    job = [*SMALL, "--set", "qkd.pulses=400000", "--set", 'qkd.error_correction="cascade"',
           "--set", "qkd.classical_bit_rate_hz=1e6"]
    run_here(["run", *job, "-o", str(tmp_path / "one.h5"), "--quiet"])
    run_mpi(2, ["-m", "dqsim", "run", *job, "-o", str(tmp_path / "two.h5"), "--quiet"], timeout_s=180)
    one, two = open_run(tmp_path / "one.h5"), open_run(tmp_path / "two.h5")
    for name in ("blocks", "links", "end_to_end"):
        a, b = one.table(name), two.table(name)
        for field in a.dtype.names:
            assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), (name, field)
    blocks = one.table("blocks")
    alone = [2 * D_PS * (1 + r) + 2 * r * nodes.message_delay_ps(bits / (2 * max(1, r)), 1e6) + 10**6 * tags
             for r, bits, tags in zip(blocks["ec_rounds"], blocks["classical_bits"], blocks["auth_key_bits"])]
    took = blocks["time_key_ps"].tolist()
    assert all(t >= a for t, a in zip(took, alone)) and any(t > a for t, a in zip(took, alone)), (took, alone)
    assert one.table("links")["preshared_auth_key_bits"][0] >= blocks["auth_key_bits"][0]


def test_the_tags_on_the_channel_are_the_tags_whose_key_is_counted():
    """``per_block``: the two tags on Alice's last message and Bob's acknowledgement are the block's two counted
    tags; ``per_message``: each timed message's tag is the one counted for it (reports, sifting and estimation
    carry theirs untimed)."""
    m = authentication.BlockMessages(report_bits=((100_000, 3),), sifting_bits=8_000, estimation_bits=300,
                                     key_message_bits=20_000, ec_rounds=12, ec_message_bits=20_000,
                                     ec_total_bits=20_000, ack_bits=1)
    block = authentication.message_tags(m, "per_block", 1e-10)
    assert block.key == block.request == block.answer == 0
    assert block.last_answer + block.ack == authentication.block_authentication(m, "per_block", 1e-10).key_bits
    each = authentication.message_tags(m, "per_message", 1e-10)
    timed = each.key + m.ec_rounds * (each.request + each.answer) + each.ack
    untimed = sum(c * authentication.tag_bits(b, 1e-10) for b, c in ((100_000, 3), (8_000, 1), (300, 1)))
    assert timed + untimed == authentication.block_authentication(m, "per_message", 1e-10).key_bits
    without_rounds = authentication.message_tags(
        authentication.BlockMessages(report_bits=(), sifting_bits=10, estimation_bits=10, key_message_bits=10),
        "per_block", 1e-10)
    assert without_rounds.key > 0 and without_rounds.last_answer == 0  # Alice's tag on her key message
    assert authentication.message_tags(m, "none", 1e-10) == authentication.NO_TAGS


def test_the_preshared_key_covers_the_largest_excess_of_tags_over_key():
    """Three blocks of 80-bit tags: the first's tags always come first; the second's too when its tags are taken
    before the first key exists; a block that makes less key than the next tags leaves the rest to the pool."""
    pre = authentication.preshared_key_bits
    assert pre([(5, 80), (8, 80), (50, 80)], [(10, 1000), (20, 1000), (60, 1000)]) == 160
    assert pre([(5, 80), (15, 80), (50, 80)], [(10, 1000), (20, 1000), (60, 1000)]) == 80
    assert pre([(5, 80), (15, 80), (25, 80)], [(10, 100), (20, 0), (30, 1000)]) == 140  # 240 taken, 100 made
    assert pre([(10, 80)], [(10, 1000)]) == 80   # a key and pads at one instant: the pads first
    assert pre([], []) == 0


def test_a_checkpoint_from_before_the_queue_is_refused_in_one_line():
    """A process or a sweep's finished tally pickled before 2026-12-07 (no ``channel``, no
    ``classical_channel``) holds times of the unqueued channel: refused, in one line; today's pickles resume."""
    job = load_job(ROOT / "jobs" / "bb84_decoy_50km.toml")
    plan, phys = qkd_scenario.build_plan(job), qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
    for process in (nodes.Bb84Alice(plan, phys), nodes.Bb84Bob(plan, phys),
                    nodes.Bb84BobBlock(plan, phys, 0, ClassicalChannel())):
        assert pickle.loads(pickle.dumps(process)).channel == process.channel
        state = dict(process.__dict__)
        del state["channel"]
        with pytest.raises(DqsimError, match="did not queue the messages") as info:
            object.__new__(type(process)).__setstate__(state)
        assert "\n" not in str(info.value)
    old = nodes.LinkTally(pulses=7)
    del old.classical_channel
    with pytest.raises(DqsimError, match="did not queue the messages"):
        nodes.refuse_waiting_source_tallies([nodes.LinkTally(), pickle.loads(pickle.dumps(old))])
    nodes.refuse_waiting_source_tallies([pickle.loads(pickle.dumps(nodes.LinkTally()))])
