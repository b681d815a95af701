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
from dqsim.protocols.qkd.classical_channel import REPORTS_UNSIZED, ClassicalChannel, queued_delay_ps
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


def places_formula(items: int, marked: int) -> int:
    """The marked places' code, the shortest of a bitmap, ⌈log2 N⌉-bit indices and the enumerative code
    ⌈log2 C(N, m)⌉ (Cover 1973), worked out here with exact integers."""
    if marked in (0, items):
        return 0
    return min(items, marked * math.ceil(math.log2(items)), (math.comb(items, marked) - 1).bit_length())


def report_bits_formula(pulses: int, clicks: int, settings: int = 2) -> int:
    """A click's setting (⌈log2 settings⌉ bits) and the clicks' places, or a symbol a pulse where shorter."""
    per_click = math.ceil(math.log2(settings))
    return min(clicks * per_click + places_formula(pulses, clicks), pulses * math.ceil(math.log2(settings + 1)))


def _tables_follow_the_closed_form(run, chains, block_ps: int) -> list:
    """Assert that the two one-batch blocks of ``run`` (each emitted in ``block_ps``) have the times of the FIFO
    closed form of their ``chains`` (:func:`fifo_times`: report, sifting, estimation, key message,
    acknowledgement); returns those arrival times."""
    blocks, times = run.table("blocks"), fifo_times(chains, D_PS)
    assert blocks["time_sifting_ps"].tolist() == [times[k][0] - (k + 1) * block_ps for k in range(2)]
    assert blocks["time_estimation_ps"].tolist() == [times[k][2] - times[k][0] for k in range(2)]
    assert blocks["time_key_ps"].tolist() == [times[k][4] - times[k][2] for k in range(2)]
    assert blocks["key_ready_ps"].tolist() == [times[k][4] for k in range(2)]
    assert run.table("links")["simulated_time_ps"][0] == max(times[0][4], times[1][4])
    return times


def _given_key_messages(monkeypatch) -> dict:
    """Two blocks' key messages and acknowledgements given by hand (:data:`K_PS`, :data:`A_PS`); returns the dict
    the run fills with each block's :class:`~dqsim.protocols.qkd.authentication.BlockMessages`."""
    given = iter([(K_PS[k], 0, 0, 0, A_PS[k]) for k in range(2)])
    monkeypatch.setattr(nodes, "ec_message_delays_ps", lambda done, q, tags=authentication.NO_TAGS: next(given))
    seen = {}
    messages_of = authentication.run_block_messages

    def recorded(q, block, counts, result):
        seen[block] = messages_of(q, block, counts, result)
        return seen[block]

    monkeypatch.setattr(authentication, "run_block_messages", recorded)
    return seen


def test_repro_two_blocks_whose_messages_collide_follow_the_closed_form(monkeypatch, tmp_path):
    """Two blocks of one batch of 1e5 pulses each (T = 0.1 ms) at 20 km and 0.5 Gbit/s: a report takes longer than
    a block (about 6.5e4 bits, 0.13 ms: the enumerative code, since 2026-12-07 (morning); 1.1e5 as a bitmap before,
    at 1 Gbit/s), so block 1's report waits behind block 0's; the key messages and acknowledgements given by hand
    collide as well. Every time of the blocks table follows the FIFO closed form (before 2026-12-07, evening: the
    reports, sifting and estimation took one fibre delay each)."""
    seen = _given_key_messages(monkeypatch)
    run_here(["run", *SMALL, "--set", "qkd.batch_pulses=100000", "--set", 'qkd.error_correction="model"',
              "--set", "qkd.classical_bit_rate_hz=5e8", "-o", str(tmp_path / "x.h5"), "--quiet"])
    run = open_run(tmp_path / "x.h5")
    blocks = run.table("blocks")
    clicks = [int(b["detections_signal"] + b["detections_decoy"] + b["detections_vacuum"]) for b in blocks]
    ps = 2000  # per bit at 0.5 Gbit/s
    chains = [((k + 1) * T_PS + D_PS, [("ba", report_bits_formula(100_000, clicks[k]) * ps),
                                       ("ab", seen[k].sifting_bits * ps), ("ba", seen[k].estimation_bits * ps),
                                       ("ab", K_PS[k]), ("ba", A_PS[k])]) for k in range(2)]
    times = _tables_follow_the_closed_form(run, chains, T_PS)
    alone = chains[1][0] + sum(t for _d, t in chains[1][1]) + 5 * D_PS  # block 1 on a free channel
    assert times[1][4] > alone and times[1][0] > chains[1][0] + chains[1][1][0][1] + D_PS  # its report waited
    assert times[0][4] - (T_PS + 6 * D_PS + K_PS[0] + A_PS[0]) > 100_000_000  # the report and sifting, timed


def _bob_clicks(job, blocks: int, pairs: int) -> list[int]:
    """Bob's clicks in each one-batch block of ``pairs`` pair slots, counted here from the link's pairs as the run
    draws them (its counter-keyed draws, whoever draws them), the receivers carried from batch to batch."""
    plan, phys = qkd_scenario.build_plan(job), qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
    receivers, clicks = None, []
    for k in range(blocks):
        batch = nodes.entangled_batch(np, plan, phys, k * pairs, pairs, receivers)
        receivers = (batch.alice_receiver, batch.bob_receiver)
        clicks.append(int(np.count_nonzero(batch.bob_detected)))
    return clicks


@pytest.mark.parametrize("name, settings, per_coincidence", [("bbm92_20km.toml", 2, 1), ("e91_chsh.toml", 3, 2)])
def test_entangled_reports_take_their_own_bits_and_follow_the_closed_form(monkeypatch, tmp_path, name, settings,
                                                                          per_coincidence):
    """BBM92 and E91, two blocks of one batch of 1e5 pairs each (T = 0.1 ms) at 20 km and 1 Gbit/s, source midway:
    Bob's report of each batch, handed to his channel when its photons reach him ((k + 1)T + d/2), takes its own
    bits — his clicks' places (the enumerative code) and his setting of each (BBM92 1 bit, E91 2), or 2 bits a pair
    slot where shorter (E91 here: a click every other slot) — about 1.5e5-2e5 bits, longer than a block, so block
    1's report waits behind block 0's. Alice's sifting answer names which of his clicks she detected too and her
    setting of each coincidence. Every time of the blocks table follows the FIFO closed form. Until 2026-12-07
    (morning) the report took no bits of its own (Alice's process drew both sides, Bob's did not know his clicks)
    and the sifting answer its settings only."""
    seen = _given_key_messages(monkeypatch)
    sets = ["qkd.pulses=200000", "qkd.block_pulses=100000", "qkd.batch_pulses=100000", "qkd.link.distance_km=20.0",
            "qkd.source.position=0.5", 'qkd.error_correction="model"', "qkd.classical_bit_rate_hz=1e9"]
    run_here(["run", f"jobs/{name}", *[x for v in sets for x in ("--set", v)], "-o", str(tmp_path / "x.h5"),
              "--quiet"])
    run = open_run(tmp_path / "x.h5")
    blocks = run.table("blocks")
    job = load_job(ROOT / "jobs" / name, sets)
    bob = _bob_clicks(job, 2, 100_000)
    pairs_ps = 100_000_000  # 1e5 pairs at 1e9 pairs/s
    flight = round(0.5 * D_PS)
    ps = 1000  # per bit at 1 Gbit/s
    for k in range(2):
        coincidences = int(blocks["detections_signal"][k])
        assert seen[k].sifting_bits == per_coincidence * coincidences + places_formula(bob[k], coincidences)
    reports = [report_bits_formula(100_000, bob[k], settings) * ps for k in range(2)]
    assert min(reports) > pairs_ps  # each report longer than a block: they queue
    chains = [((k + 1) * pairs_ps + flight, [("ba", reports[k]), ("ab", seen[k].sifting_bits * ps),
                                             ("ba", seen[k].estimation_bits * ps), ("ab", K_PS[k]), ("ba", A_PS[k])])
              for k in range(2)]
    times = _tables_follow_the_closed_form(run, chains, pairs_ps)
    assert times[1][0] > chains[1][0] + reports[1] + D_PS  # block 1's report waited behind block 0's


def test_a_block_s_message_lengths_follow_from_its_counts():
    """BB84: the sifting answer is (1 + ⌈log2 3⌉) bits a detection; the estimation message the sampled bits, the
    decoy classes' sifted bits and the sample's positions among the signal's sifted bits (the enumerative code,
    3,157 bits, where ⌈log2 n⌉-bit indices took 7,000 until 2026-12-07 (morning)); E91 likewise and its test
    settings' outcomes, none for BBM92's X–X test (every bit); BBM92/E91's sifting answer names which of Bob's
    clicks are coincidences, none to say where his clicks are not counted (counts made by hand)."""
    counts = replace(BlockCounts.zeros(3), detected=(30_000, 800, 10), sifted=(15_000, 400, 5))
    result = SimpleNamespace(num_estimation_bits=500, finite_key=None, postprocess=None, leakage_bits=900.0,
                             secret_key_bits=4_000)
    m = authentication.bb84_block_messages(counts, result, ((100_000, 1),))
    assert m.sifting_bits == 3 * 30_810
    assert m.estimation_bits == 500 + 405 + places_formula(15_000, 500) == 500 + 405 + 3_157
    finite = SimpleNamespace(**{**result.__dict__, "finite_key": object()})
    assert authentication.bb84_block_messages(counts, finite, ((100_000, 1),)).estimation_bits == 905
    pairs = SiftedCounts(1_000_000, 20_000, 10_000, 100, (5_000, 5_000), (50, 50))
    sampled = SimpleNamespace(estimate=QberSample(10_000, 1_000, 10), postprocess=None, leakage_bits=500.0,
                              secret_key_bits=3_000)
    m = authentication.entangled_block_messages("e91", pairs, sampled, ((1_000_000, 1),))
    assert m.sifting_bits == 2 * 20_000 and m.estimation_bits == 1_000 + 10_000 + places_formula(10_000, 1_000)
    clicked = replace(pairs, num_bob_clicks=50_000)
    assert authentication.entangled_block_messages("e91", clicked, sampled, ((1_000_000, 1),)).sifting_bits == \
        2 * 20_000 + places_formula(50_000, 20_000)
    test = SimpleNamespace(**{**sampled.__dict__, "estimate": QberSample(5_000, 5_000, 50)})
    assert authentication.entangled_block_messages("bbm92", pairs, test, ((1_000_000, 1),)).estimation_bits == 5_000
    assert [authentication.report_message_bits(100_000, k) for k in (0, 100, 6_000, 12_000, 100_000)] == \
        [report_bits_formula(100_000, k) for k in (0, 100, 6_000, 12_000, 100_000)]
    assert [authentication.report_message_bits(1_000, k, 3) for k in (0, 10, 900, 1_000)] == \
        [report_bits_formula(1_000, k, 3) for k in (0, 10, 900, 1_000)]


def test_click_places_are_charged_the_shortest_code_the_enumerative_one():
    """The click places take the enumerative code, which is never longer than a bitmap or a list of indices
    (C(N, k) <= 2^N and <= N^k: the shortest of the three, ``places_formula``, is it) and is charged exactly, ⌈log2 C(N, k)⌉, against exact integers
    here, also where the float estimate lands next to an integer (C(8, 4) = 70, C(2^20, 1) = 2^20); before
    2026-12-07 (morning) the shorter of the first two: 1.12 bits a pulse at 0.12 clicks a pulse, now 0.65."""
    for n in (1, 2, 3, 8, 64, 1_000, 4_096, 100_000):
        for k in sorted({0, 1, 2, n // 16, n // 3, n // 2, n - 1, n}):
            if 0 <= k <= n:
                exact = (math.comb(n, k) - 1).bit_length() if 0 < k < n else 0
                assert authentication.enumerative_bits(n, k) == exact, (n, k)
                assert authentication.positions_bits(n, k) == places_formula(n, k) == exact, (n, k)
    assert authentication.enumerative_bits(1 << 20, 1) == 20 and authentication.enumerative_bits(8, 4) == 7
    assert authentication.positions_bits(1_000_000, 5_000) == authentication.enumerative_bits(1_000_000, 5_000) \
        == 45_408 < min(1_000_000, 5_000 * 20)          # the bitmap's and the indices' lengths
    old = 120_000 + min(1_000_000, 120_000 * 20)  # a basis bit a click and the bitmap
    new = authentication.report_message_bits(1_000_000, 120_000)
    assert round(old / 1e6, 2) == 1.12 and round(new / 1e6, 2) == 0.65
    with pytest.raises(DqsimError, match="num_marked"):
        authentication.enumerative_bits(5, 6)


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


def _one_rank_with_checkpoints(folder, job: list, every_s: float) -> list:
    """``job`` run on one rank with a checkpoint every ``every_s`` of simulated time, its run file ``one.h5`` in
    ``folder``: the checkpoints kept (100 at most), oldest first."""
    from run_files import checkpoints

    run_here(["run", *job, "--set", f"checkpoint.every_sim_s={every_s}", "--set", "checkpoint.keep=100",
              "--set", f'checkpoint.directory="{folder / "ck"}"', "-o", str(folder / "one.h5"), "--quiet"])
    return checkpoints(folder / "ck")


def _process_phases(paths, wanted=lambda process: True) -> dict:
    """The first checkpoint (of ``paths``) in which a live process of node 0 that ``wanted`` accepts is in each
    phase: ``{phase: path}``."""
    from run_files import node_record_bytes

    phases = {}
    for path in paths:
        record = pickle.loads(node_record_bytes(path, 0))
        for handle in record["processes"][1:]:
            if handle.process is not None and not handle.done and wanted(handle.process):
                phases.setdefault(handle.process.phase, path)
    return phases


@pytest.fixture(scope="module")
def chain_run(tmp_path_factory):
    """The chain on one rank with a checkpoint every simulated ms: its folder, and by phase (``"estimate"``,
    ``"cascade"``) the first checkpoint taken while a block of link 0 was in it (both must be there)."""
    folder = tmp_path_factory.mktemp("chain")
    paths = _one_rank_with_checkpoints(folder, CHAIN, 0.001)
    phases = _process_phases(paths)
    assert "estimate" in phases and "cascade" in phases, sorted(phases)
    return folder, phases


@pytest.fixture(scope="module")
def e91_run(tmp_path_factory):
    """The E91 chain on one rank with a checkpoint every 0.2 simulated ms: its folder, the first checkpoint taken
    while a block of link 0 waits for reports in flight, and the first taken in Cascade's rounds."""
    folder = tmp_path_factory.mktemp("e91")
    paths = _one_rank_with_checkpoints(folder, E91_CHAIN, 0.0002)
    waiting = _process_phases(paths, lambda process: getattr(process, "awaiting", None))  # reports in flight
    phases = _process_phases(paths)
    assert "reports" in waiting and "cascade" in phases, (sorted(waiting), sorted(phases))
    return folder, waiting["reports"], phases["cascade"]


@pytest.fixture(scope="module")
def two_rank_runs(tmp_path_factory, chain_run, e91_run):
    """One 2-rank launch (tests/mpi_scripts/dqsim_runs.py) for the multi-rank tests: the Cascade job of
    :func:`test_colliding_cascade_blocks_wait_the_same_on_one_and_two_ranks` (``cascade-two.h5``), the chain
    (``two.h5``) and the resume of its 1-rank checkpoint taken in Cascade's rounds (``two-resumed.h5``), and the
    E91 chain and the resume of its checkpoint in Cascade's rounds (``e91-two.h5``, ``e91-two-resumed.h5``).
    Its folder."""
    folder = tmp_path_factory.mktemp("two")
    _, phases = chain_run
    _, _, e91_cascade = e91_run
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", "run", *CASCADE, "-o", str(folder / "cascade-two.h5"), "--quiet",
                "--then", "run", *CHAIN, "-o", str(folder / "two.h5"), "--quiet",
                "--then", "resume", str(phases["cascade"]), "-o", str(folder / "two-resumed.h5"), "--quiet",
                "--then", "run", *E91_CHAIN, "-o", str(folder / "e91-two.h5"), "--quiet",
                "--then", "resume", str(e91_cascade), "-o", str(folder / "e91-two-resumed.h5"), "--quiet"],
            cwd=ROOT, timeout_s=480)
    return folder


@pytest.fixture(scope="module")
def four_rank_runs(tmp_path_factory, chain_run, e91_run):
    """One 4-rank launch for both chains: the chain (``four.h5``) and the resume of its 1-rank checkpoint taken
    between a block's sifting answer and its key message (``four-resumed.h5``), the E91 chain (``e91-four.h5``)
    and the resume of its checkpoint with reports in flight (``e91-four-resumed.h5``). Its folder."""
    folder = tmp_path_factory.mktemp("four")
    _, phases = chain_run
    _, e91_reports, _ = e91_run
    run_mpi(4, ["tests/mpi_scripts/dqsim_runs.py", "run", *CHAIN, "-o", str(folder / "four.h5"), "--quiet",
                "--then", "resume", str(phases["estimate"]), "-o", str(folder / "four-resumed.h5"), "--quiet",
                "--then", "run", *E91_CHAIN, "-o", str(folder / "e91-four.h5"), "--quiet",
                "--then", "resume", str(e91_reports), "-o", str(folder / "e91-four-resumed.h5"), "--quiet"],
            cwd=ROOT, timeout_s=480)
    return folder


def test_every_message_on_the_channel_gives_the_same_tables_on_1_2_4_ranks_and_after_a_resume(chain_run, two_rank_runs,
                                                                                            four_rank_runs):
    """A 3-link trusted chain, Cascade at 1e7 bit/s with a tag on every message (reports, sifting, estimation
    and the relay's announcements queue, on every link): the tables of 2 and 4 ranks, and of 4 and 2 ranks
    resumed from a 1-rank checkpoint taken while a block of link 0 is between its sifting answer and its key
    message (its result worked out, its estimation message on the channel) and one taken in Cascade's rounds,
    are those of 1 rank, bit for bit."""
    from run_files import same_tables

    folder, _ = chain_run
    one = open_run(folder / "one.h5")
    blocks = one.table("blocks")
    crossings = [2 * propagation_delay_ps(float(km), 1.468) for km in blocks["distance_km"]]
    assert (blocks["time_estimation_ps"] > crossings).all()  # the sifting and estimation bits (2d before)
    for path in (four_rank_runs / "four.h5", four_rank_runs / "four-resumed.h5", two_rank_runs / "two.h5",
                 two_rank_runs / "two-resumed.h5"):
        same_tables(one, open_run(path), RANK_TABLES)


def test_the_tags_on_the_channel_are_the_tags_whose_key_is_counted():
    """``per_block``: the two tags on Alice's last message and Bob's acknowledgement are the block's two counted
    tags; ``per_message``: each message's tag on the channel is the one counted for it, the reports', sifting's
    and estimation's included (untimed until 2026-12-07)."""
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
    times without the reports, sifting and estimation, and one pickled before 2026-12-07 (morning) (its channel's
    ``messages`` the older :data:`REPORTS_UNSIZED`: BBM92/E91's Alice drew both sides and Bob's reports took no bits
    of their own, every report's places were a bitmap or indices) sized its reports otherwise: refused, in one
    line; today's pickles resume."""
    processes = []
    for name in ("bb84_decoy_50km.toml", "bbm92_20km.toml"):
        job = load_job(ROOT / "jobs" / name)
        plan, phys = qkd_scenario.build_plan(job), qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
        if name.startswith("bb84"):
            processes += [nodes.Bb84Alice(plan, phys), nodes.Bb84Bob(plan, phys),
                          nodes.Bb84BobBlock(plan, phys, 0, ClassicalChannel())]
        else:
            processes += [nodes.EntangledAlice(plan, phys), nodes.EntangledBob(plan, phys),
                          nodes.EntangledAliceBlock(plan, phys, nodes.LinkTally(), 0, None, None, {1}, {}, None,
                                                    channel=ClassicalChannel())]
    for process in processes:
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
        state["channel"] = ClassicalChannel(messages=REPORTS_UNSIZED)  # pickled before 2026-12-07 (morning)
        with pytest.raises(DqsimError, match="reports were sized otherwise") as info:
            object.__new__(type(process)).__setstate__(state)
        assert "\n" not in str(info.value)
    old = nodes.LinkTally(pulses=7)
    del old.classical_channel
    with pytest.raises(DqsimError, match="did not queue the messages"):
        nodes.refuse_waiting_source_tallies([nodes.LinkTally(), pickle.loads(pickle.dumps(old))])
    with pytest.raises(DqsimError, match="did not carry the detection reports"):
        nodes.refuse_waiting_source_tallies([nodes.LinkTally(classical_channel=nodes.EC_ONLY_CLASSICAL_CHANNEL)])
    with pytest.raises(DqsimError, match="reports were sized otherwise"):
        nodes.refuse_waiting_source_tallies(
            [nodes.LinkTally(classical_channel=nodes.UNSIZED_REPORTS_CLASSICAL_CHANNEL)])
    nodes.refuse_waiting_source_tallies([pickle.loads(pickle.dumps(nodes.LinkTally()))])


E91_CHAIN = ["jobs/e91_chsh.toml", "--set", 'qkd.network.topology="chain"', "--set", "qkd.network.num_nodes=4",
             "--set", "qkd.network.distances_km=[20.0, 30.0, 20.0]", "--set", "qkd.pulses=300000", "--set",
             "qkd.block_pulses=100000", "--set", "qkd.batch_pulses=50000", "--set", 'qkd.error_correction="cascade"',
             "--set", "qkd.classical_bit_rate_hz=1e9", "--set", 'qkd.authentication="per_message"']


def test_entangled_reports_with_their_bits_give_the_same_tables_on_1_2_4_ranks_and_after_a_resume(
        e91_run, two_rank_runs, four_rank_runs):
    """An E91 trusted chain of 3 links, Cascade at 1 Gbit/s with a tag on every message: Bob's process draws each
    batch of pairs and his report (his clicks' places and settings, some 1e5 bits, longer than a batch: they
    queue) carries its outcomes to Alice's side. The tables of 2 and 4 ranks, and of 4 and 2 ranks resumed from a
    1-rank checkpoint taken while a block of link 0 waits for reports in flight (their key bits in them) and one
    taken in Cascade's rounds, are those of 1 rank, bit for bit (the pairs' draws keyed by Alice's node as
    before, whichever process draws them)."""
    from run_files import same_tables

    folder, _, _ = e91_run
    one = open_run(folder / "one.h5")
    for path in (four_rank_runs / "e91-four.h5", four_rank_runs / "e91-four-resumed.h5",
                 two_rank_runs / "e91-two.h5", two_rank_runs / "e91-two-resumed.h5"):
        same_tables(one, open_run(path), RANK_TABLES)
