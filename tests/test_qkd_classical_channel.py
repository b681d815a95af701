"""A link's classical channel is one FIFO queue per direction, shared by the key blocks in post-processing at once.

Until 2026-12-07 each error-correction message took its own transmission time as if it had the channel to
itself, so 16 blocks in post-processing each had the whole ``[qkd].classical_bit_rate_hz``. Now a message waits
for the messages handed to its direction of the channel before it (:mod:`dqsim.protocols.qkd.classical_channel`),
and the authentication tags' bits travel with their messages (:func:`dqsim.protocols.qkd.authentication.
message_tags`); the pre-shared key the first tags need is reported per link (``preshared_auth_key_bits``). Since
the same day, later, every message of a block is on the channel: Bob's detection reports (BB84: the clicks' positions, a
bitmap or a list of indices, whichever is shorter, and a basis bit a click), Alice's sifting answer (basis and
class a detection), Bob's estimation message (the sampled bits and their positions), then the error correction.

The closed form (:func:`fifo_times`, written here from the model: each direction serves the messages handed to
it in the order they are handed, ``start = max(handed, free)``, ``free = start + bits/R``, ``arrival = free + d``):
each block's chain is report → sifting → estimation → key message → acknowledgement, each handed over when the
one before it arrives (the report when the batch's pulses reach Bob, ``(k + 1)T + d``).
"""

import math
import pickle
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from dqsim.errors import DqsimError
from dqsim.io import open_run
from dqsim.jobs import load_job
from dqsim.network.fibre import propagation_delay_ps
from dqsim.protocols.qkd import authentication, nodes
from dqsim.protocols.qkd.classical_channel import ClassicalChannel, queued_delay_ps
from dqsim.protocols.qkd.entangled import SiftedCounts
from dqsim.protocols.qkd.postprocess import BlockCounts, QberSample
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT, run_here, run_mpi

D_PS = propagation_delay_ps(20.0, 1.468)  # 20 km
T_PS = 100_000_000                        # a block of 1e5 pulses at 1 GHz
SMALL = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=200000", "--set", "qkd.block_pulses=100000",
         "--set", "qkd.batch_pulses=50000", "--set", "qkd.link.distance_km=20.0"]
#: The Cascade job of the blocks that collide at 1 Mbit/s (1 and 2 ranks).
CASCADE = [*SMALL, "--set", "qkd.pulses=400000", "--set", 'qkd.error_correction="cascade"',
           "--set", "qkd.classical_bit_rate_hz=1e6"]
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


def fifo_times(chains, delay_ps: int):
    """Arrival times of each block's chain of messages on a two-direction FIFO channel (module docstring).

    ``chains``: per block ``(first hand-over time, [(direction, transmission_ps), ...])``; returns per block the
    arrival of each of its messages, ps. The next hand-over of all blocks is served first (ties: lower block)."""
    free = {"ab": 0, "ba": 0}
    arrivals = [[] for _ in chains]
    handed = [start for start, _messages in chains]
    while True:
        waiting = [(handed[k], k) for k, (_s, messages) in enumerate(chains) if len(arrivals[k]) < len(messages)]
        if not waiting:
            return arrivals
        t, k = min(waiting)
        direction, transmission = chains[k][1][len(arrivals[k])]
        free[direction] = max(t, free[direction]) + transmission
        arrivals[k].append(free[direction] + delay_ps)
        handed[k] = arrivals[k][-1]


def report_bits_formula(pulses: int, clicks: int) -> int:
    """A click's basis bit, and the clicks' places as a bitmap or as ⌈log2 N⌉-bit indices, the shorter."""
    if clicks in (0, pulses):
        return clicks
    return clicks + min(pulses, clicks * math.ceil(math.log2(pulses)))


def test_repro_two_blocks_whose_messages_collide_follow_the_closed_form(monkeypatch, tmp_path):
    """Two blocks of one batch of 1e5 pulses each (T = 0.1 ms) at 20 km: a report takes longer than a block
    (about 1.1e5 bits: a bitmap), so block 1's report waits behind block 0's; the key messages and
    acknowledgements given by hand collide as well. Every time of the blocks table follows the FIFO closed form
    (before 2026-12-07, evening: the reports, sifting and estimation took one fibre delay each, and block 0's
    key existed 0.10 ms earlier)."""
    given = iter([(K_PS[k], 0, 0, 0, A_PS[k]) for k in range(2)])
    monkeypatch.setattr(nodes, "ec_message_delays_ps", lambda done, q, tags=authentication.NO_TAGS: next(given))
    seen = {}
    messages_of = authentication.run_block_messages

    def recorded(q, block, counts, result):
        seen[block] = messages_of(q, block, counts, result)
        return seen[block]

    monkeypatch.setattr(authentication, "run_block_messages", recorded)
    run_here(["run", *SMALL, "--set", "qkd.batch_pulses=100000", "--set", 'qkd.error_correction="model"',
              "-o", str(tmp_path / "x.h5"), "--quiet"])
    run = open_run(tmp_path / "x.h5")
    blocks = run.table("blocks")
    clicks = [int(b["detections_signal"] + b["detections_decoy"] + b["detections_vacuum"]) for b in blocks]
    ps = 1000  # per bit at 1 Gbit/s
    chains = [((k + 1) * T_PS + D_PS, [("ba", report_bits_formula(100_000, clicks[k]) * ps),
                                       ("ab", seen[k].sifting_bits * ps), ("ba", seen[k].estimation_bits * ps),
                                       ("ab", K_PS[k]), ("ba", A_PS[k])]) for k in range(2)]
    times = fifo_times(chains, D_PS)
    assert blocks["time_sifting_ps"].tolist() == [times[k][0] - (k + 1) * T_PS for k in range(2)]
    assert blocks["time_estimation_ps"].tolist() == [times[k][2] - times[k][0] for k in range(2)]
    assert blocks["time_key_ps"].tolist() == [times[k][4] - times[k][2] for k in range(2)]
    assert blocks["key_ready_ps"].tolist() == [times[k][4] for k in range(2)]
    assert run.table("links")["simulated_time_ps"][0] == max(times[0][4], times[1][4])
    alone = chains[1][0] + sum(t for _d, t in chains[1][1]) + 5 * D_PS  # block 1 on a free channel
    assert times[1][4] > alone and times[1][0] > chains[1][0] + chains[1][1][0][1] + D_PS  # its report waited
    assert times[0][4] - (T_PS + 6 * D_PS + K_PS[0] + A_PS[0]) > 100_000_000  # the report and sifting, timed


def test_a_block_s_message_lengths_follow_from_its_counts():
    """BB84: the sifting answer is (1 + ⌈log2 3⌉) bits a detection; the estimation message the sampled bits, the
    decoy classes' sifted bits and the sample's positions among the signal's sifted bits (a list of ⌈log2 n⌉-bit
    indices here); E91 likewise (a bitmap here) and its test settings' outcomes, none for BBM92's X–X test (every
    bit)."""
    counts = replace(BlockCounts.zeros(3), detected=(30_000, 800, 10), sifted=(15_000, 400, 5))
    result = SimpleNamespace(num_estimation_bits=500, finite_key=None, postprocess=None, leakage_bits=900.0,
                             secret_key_bits=4_000)
    m = authentication.bb84_block_messages(counts, result, ((100_000, 1),))
    assert m.sifting_bits == 3 * 30_810
    assert m.estimation_bits == 500 + 405 + 500 * math.ceil(math.log2(15_000))  # a list: 7,000 < 15,000
    finite = SimpleNamespace(**{**result.__dict__, "finite_key": object()})
    assert authentication.bb84_block_messages(counts, finite, ((100_000, 1),)).estimation_bits == 905
    pairs = SiftedCounts(1_000_000, 20_000, 10_000, 100, (5_000, 5_000), (50, 50))
    sampled = SimpleNamespace(estimate=QberSample(10_000, 1_000, 10), postprocess=None, leakage_bits=500.0,
                              secret_key_bits=3_000)
    m = authentication.entangled_block_messages("e91", pairs, sampled, ((1_000_000, 1),))
    assert m.sifting_bits == 2 * 20_000 and m.estimation_bits == 1_000 + 10_000 + 10_000  # a bitmap: 10,000 < 14,000
    test = SimpleNamespace(**{**sampled.__dict__, "estimate": QberSample(5_000, 5_000, 50)})
    assert authentication.entangled_block_messages("bbm92", pairs, test, ((1_000_000, 1),)).estimation_bits == 5_000
    assert [authentication.report_message_bits(100_000, k) for k in (0, 100, 6_000, 100_000)] == \
        [report_bits_formula(100_000, k) for k in (0, 100, 6_000, 100_000)] == [0, 1_800, 106_000, 100_000]


def test_colliding_cascade_blocks_wait_the_same_on_one_and_two_ranks(tmp_path, two_rank_runs):
    """Cascade at 1 Mbit/s (messages of some 0.1 ms against 0.1 ms blocks): some blocks' messages wait for
    another block's (their key phase is longer than their own crossings, messages and tags, the closed form of
    a block alone), and the tables are the same on two ranks (Alice's and Bob's ends on different ranks, each
    keeping its own direction's queue; the 2-rank run is the first of :func:`two_rank_runs`' launch)."""
    run_here(["run", *CASCADE, "-o", str(tmp_path / "one.h5"), "--quiet"])
    one, two = open_run(tmp_path / "one.h5"), open_run(two_rank_runs / "cascade-two.h5")
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


CHAIN = ["jobs/qkd_trusted_chain.toml", "--set", "qkd.network.num_nodes=4", "--set",
         "qkd.network.distances_km=[20.0, 30.0, 20.0]", "--set", "qkd.pulses=300000", "--set",
         "qkd.block_pulses=100000", "--set", "qkd.batch_pulses=50000", "--set", 'qkd.error_correction="cascade"',
         "--set", "qkd.classical_bit_rate_hz=1e7", "--set", 'qkd.authentication="per_message"']
RANK_TABLES = ["blocks", "links", "end_to_end", "relay_links", "timeline"]


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    """The chain on one rank with a checkpoint every simulated ms: its folder, and by phase (``"estimate"``,
    ``"cascade"``) the first checkpoint taken while a block of link 0 was in it (both must be there)."""
    from run_files import checkpoints, node_record_bytes

    folder = tmp_path_factory.mktemp("chain")
    run_here(["run", *CHAIN, "--set", "checkpoint.every_sim_s=0.001", "--set", "checkpoint.keep=100",
              "--set", f'checkpoint.directory="{folder / "ck"}"', "-o", str(folder / "one.h5"), "--quiet"])
    phases = {}
    for path in checkpoints(folder / "ck"):
        record = pickle.loads(node_record_bytes(path, 0))
        for handle in record["processes"][1:]:
            if handle.process is not None and not handle.done:
                phases.setdefault(handle.process.phase, path)
    assert "estimate" in phases and "cascade" in phases, sorted(phases)
    return folder, phases


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory, chain_run):
    """One 2-rank launch (tests/mpi_scripts/dqsim_runs.py) for both multi-rank tests: the Cascade job of
    :func:`test_colliding_cascade_blocks_wait_the_same_on_one_and_two_ranks` (``cascade-two.h5``), then the
    chain (``two.h5``) and the resume of its 1-rank checkpoint taken in Cascade's rounds (``two-resumed.h5``).
    Its folder."""
    folder = tmp_path_factory.mktemp("two")
    _, phases = chain_run
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", "run", *CASCADE, "-o", str(folder / "cascade-two.h5"), "--quiet",
                "--then", "run", *CHAIN, "-o", str(folder / "two.h5"), "--quiet",
                "--then", "resume", str(phases["cascade"]), "-o", str(folder / "two-resumed.h5"), "--quiet"],
            cwd=ROOT, timeout_s=360)
    return folder


def test_every_message_on_the_channel_gives_the_same_tables_on_1_2_4_ranks_and_after_a_resume(tmp_path, chain_run,
                                                                                            two_rank_runs):
    """A 3-link trusted chain, Cascade at 1e7 bit/s with a tag on every message (reports, sifting, estimation
    and the relay's announcements queue, on every link): the tables of 2 and 4 ranks, and of 4 and 2 ranks
    resumed from a 1-rank checkpoint taken while a block of link 0 is between its sifting answer and its key
    message (its result worked out, its estimation message on the channel) and one taken in Cascade's rounds,
    are those of 1 rank, bit for bit."""
    from run_files import same_tables

    folder, phases = chain_run
    one = open_run(folder / "one.h5")
    blocks = one.table("blocks")
    crossings = [2 * propagation_delay_ps(float(km), 1.468) for km in blocks["distance_km"]]
    assert (blocks["time_estimation_ps"] > crossings).all()  # the sifting and estimation bits (2d before)
    run_mpi(4, ["tests/mpi_scripts/dqsim_runs.py", "run", *CHAIN, "-o", str(tmp_path / "four.h5"), "--quiet",
                "--then", "resume", str(phases["estimate"]), "-o", str(tmp_path / "four-resumed.h5"), "--quiet"],
            cwd=ROOT, timeout_s=300)
    for path in (tmp_path / "four.h5", tmp_path / "four-resumed.h5", two_rank_runs / "two.h5",
                 two_rank_runs / "two-resumed.h5"):
        same_tables(one, open_run(path), RANK_TABLES)


def test_the_tags_on_the_channel_are_the_tags_whose_key_is_counted():
    """``per_block``: the two tags on Alice's last message and Bob's acknowledgement are the block's two counted
    tags; ``per_message``: each message's tag on the channel is the one counted for it, the reports', sifting's
    and estimation's included (untimed until 2026-12-07, evening)."""
    m = authentication.BlockMessages(report_bits=((200_000, 3),), sifting_bits=8_000, estimation_bits=300,
                                     key_message_bits=20_000, ec_rounds=12, ec_message_bits=20_000,
                                     ec_total_bits=20_000, ack_bits=1)
    block = authentication.message_tags(m, "per_block", 1e-10)
    assert block.key == block.request == block.answer == block.sifting == block.estimation == 0
    assert block.last_answer + block.ack == authentication.block_authentication(m, "per_block", 1e-10).key_bits
    assert authentication.report_tag_bits(100_000, "per_block", 1e-10) == 0
    each = authentication.message_tags(m, "per_message", 1e-10)
    timed = (each.sifting + each.estimation + each.key + m.ec_rounds * (each.request + each.answer) + each.ack
             + 3 * authentication.report_tag_bits(100_000, "per_message", 1e-10))
    assert timed == authentication.block_authentication(m, "per_message", 1e-10).key_bits
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
    ``classical_channel``) holds times of the unqueued channel, and one pickled that day before every message
    was on the channel (its channel without ``messages``, its tally's ``classical_channel`` the older value)
    times without the reports, sifting and estimation: refused, in one line; today's pickles resume."""
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
        state["channel"] = pickle.loads(pickle.dumps(process.channel))
        del state["channel"].__dict__["messages"]  # pickled on 2026-12-07 before every message was timed
        state["channel"] = pickle.loads(pickle.dumps(state["channel"]))
        with pytest.raises(DqsimError, match="did not carry the detection reports") as info:
            object.__new__(type(process)).__setstate__(state)
        assert "\n" not in str(info.value)
    old = nodes.LinkTally(pulses=7)
    del old.classical_channel
    with pytest.raises(DqsimError, match="did not queue the messages"):
        nodes.refuse_waiting_source_tallies([nodes.LinkTally(), pickle.loads(pickle.dumps(old))])
    with pytest.raises(DqsimError, match="did not carry the detection reports"):
        nodes.refuse_waiting_source_tallies([nodes.LinkTally(classical_channel=nodes.EC_ONLY_CLASSICAL_CHANNEL)])
    nodes.refuse_waiting_source_tallies([pickle.loads(pickle.dumps(nodes.LinkTally()))])
