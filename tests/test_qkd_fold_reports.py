"""Alice folds Bob's detection reports into a key block's counts and packed key bits as they come.

Until 2026-12-06 :class:`dqsim.protocols.qkd.nodes.Bb84Alice` read a block's reports only after its last
batch, so a block held all of them (12 bytes per detection, 1.85 GB at 4.3e8 pulses at 0 km) in her mailbox
and in any checkpoint taken inside it. Now she takes the reports that have come at each batch she sends
(``ctx.take_arrived``) and keeps the block's key bits eight to a byte (:class:`PackedBits`): a block holds a
round trip's reports (:func:`nodes.max_reports_held`) and its packed key bits. The tables are those of holding
the reports to the block's end (the code before), on 1 and 2 ranks, and a resume inside a block, also from a
checkpoint in the older format, gives the uninterrupted run's tables.
"""

import math
import pickle

import numpy as np
import pytest

from dqsim.cli.main import main
from dqsim.engine.simulator import NodeContext
from dqsim.io import open_run
from dqsim.network.fibre import propagation_delay_ps
from dqsim.protocols.qkd import nodes
from dqsim.protocols.qkd.detections import DetectionBatch, PackedDetectionBatch
from dqsim.protocols.qkd.packed_bits import PackedBits
from dqsim.units import PS_PER_S
from mpi_helper import ROOT, run_mpi
from run_files import checkpoints, node_record_bytes, same_tables

TABLES = ["blocks", "links", "end_to_end", "timeline"]
# 10 km (a round trip of 98 µs) and batches of 100,000 pulses at 1 GHz (100 µs): a block of 10 batches holds at
# most 2 reports. Cascade, so the block keeps its key bits.
SMALL = ["--set", "qkd.link.distance_km=10.0", "--set", "qkd.pulses=2000000", "--set", "qkd.batch_pulses=100000",
         "--set", "qkd.block_pulses=1000000", "--set", 'qkd.error_correction="cascade"']


def hold_reports_to_the_block_end(monkeypatch):
    """The code before 2026-12-06: Alice takes no report while she emits, so they wait for the block's end."""
    monkeypatch.setattr(NodeContext, "take_arrived", lambda self, tag: [])


def run_in_process(out, job, extra, *more):
    assert main(["run", str(ROOT / "jobs" / job), "-o", str(out), "--quiet", *extra, *more]) == 0
    return open_run(out)


def every_table(run_file):
    return [name for name in run_file.tables if name != "timing"]


def test_packed_bits_give_back_the_bits_appended_in_order():
    rng = np.random.default_rng(5)
    key, pieces = PackedBits(), []
    for size in [0, 3, 13, 8, 0, 1, 64, 7, 100, 5]:
        piece = rng.integers(0, 2, size).astype(np.uint8 if size % 2 else bool)
        key.append(piece)
        pieces.append(piece.astype(np.uint8))
        key = pickle.loads(pickle.dumps(key))  # a checkpoint between two batches
        expected = np.concatenate(pieces)
        got = key.unpacked()
        assert got.dtype == np.uint8 and np.array_equal(got, expected)
        assert key.num_bits == expected.size and key.nbytes == expected.size // 8 + expected.size % 8
    assert PackedBits().unpacked().dtype == np.uint8 and PackedBits().unpacked().size == 0


def test_packed_bits_extended_by_packed_bits_equal_them_appended_unpacked(monkeypatch):
    """``extend`` (BBM92/E91's Alice folding Bob's packed key bits, since 2026-12-07, later) joins the other's
    bytes, shifted where this one holds a partial byte, without unpacking them: the same bits, bytes and pickled
    state as appending the unpacked bits, at every offset of both tails."""
    rng = np.random.default_rng(6)
    for first in range(0, 20):
        for second in (0, 1, 7, 8, 9, 16, 23, 64, 101):
            a, b = rng.integers(0, 2, first).astype(np.uint8), rng.integers(0, 2, second).astype(np.uint8)
            appended, extended = PackedBits(a), PackedBits(a)
            appended.append(b)
            extended.extend(PackedBits(b))
            assert np.array_equal(extended.unpacked(), np.concatenate([a, b])), (first, second)
            assert pickle.dumps(extended) == pickle.dumps(appended) and extended.nbytes == appended.nbytes
    unpacked = PackedBits.unpacked
    monkeypatch.setattr(PackedBits, "unpacked", lambda self: pytest.fail("unpacked while extending"))
    key = PackedBits(np.ones(5, dtype=np.uint8))
    key.extend(PackedBits(np.zeros(30, dtype=np.uint8)))
    monkeypatch.setattr(PackedBits, "unpacked", unpacked)
    assert key.unpacked().tolist() == [1] * 5 + [0] * 30


#: The folding test's jobs, by case: (job file under jobs/, --set arguments).
FOLDING_CASES = {
    "cascade": ("bb84_decoy_50km.toml", SMALL),
    "finite-key-dead-time": ("bb84_decoy_50km.toml", SMALL + [
        "--set", 'qkd.security="finite_key"', "--set", "qkd.link.dead_time_ps=20000",
        "--set", "qkd.link.afterpulse_probability=0.05"]),
    "pulses": ("bb84_decoy_50km.toml", ["--set", "qkd.pulses=600000", "--set", "qkd.batch_pulses=100000",
                                        "--set", "qkd.block_pulses=300000", "--set", 'qkd.sampling="pulses"',
                                        "--set", 'qkd.error_correction="cascade"']),
    "chain-two-links": ("qkd_trusted_chain.toml", ["--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=100000",
                                                   "--set", "qkd.block_pulses=500000"]),
}


@pytest.fixture(scope="module")
def folded_on_two_ranks(tmp_path_factory):
    """The output of each of :data:`FOLDING_CASES` run on 2 ranks, by case: one launch running them one after the
    other (tests/mpi_scripts/dqsim_runs.py)."""
    folder = tmp_path_factory.mktemp("folded2")
    lines = []
    for case, (job, extra) in FOLDING_CASES.items():
        lines += [*(["--then"] if lines else []), "run", f"jobs/{job}", "-o", str(folder / f"{case}.h5"), "--quiet",
                  *extra]
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *lines], timeout_s=300)
    return {case: folder / f"{case}.h5" for case in FOLDING_CASES}


@pytest.mark.parametrize("case", list(FOLDING_CASES))
def test_folding_as_reports_come_writes_the_tables_of_holding_them_to_the_block_end(tmp_path, monkeypatch, case,
                                                                                     folded_on_two_ranks):
    """On 1 and 2 ranks (the chain's second link has Alice and Bob on different ranks), every table but the
    wall times is bit for bit that of the code before, which held the reports until the block's end."""
    job, extra = FOLDING_CASES[case]
    with monkeypatch.context() as patch:
        hold_reports_to_the_block_end(patch)
        before = run_in_process(tmp_path / "held.h5", job, extra)
    assert (before.table("blocks")["sifted_bits"] > 0).all()
    folded = [run_in_process(tmp_path / "folded1.h5", job, extra), open_run(folded_on_two_ranks[case])]
    assert folded[1].attrs["num_ranks"] == 2
    names = every_table(before)
    assert {"blocks", "links", "end_to_end", "timeline"} <= set(names)
    for run_file in folded:
        assert every_table(run_file) == names
        same_tables(before, run_file, names)
        for name in ("total_secret_key_bits", "total_pulses", "engine_messages"):
            assert run_file.attrs[name] == before.attrs[name], name


def _alice_holds(path):
    """Alice's node (0) in a checkpoint: her process, and the detection reports of her mailbox and of her event
    queue (on one rank a message in flight waits there) with the bytes of their per-click arrays (packed since
    2026-12-06: ``PackedDetectionBatch.nbytes``)."""
    record = pickle.loads(node_record_bytes(path, 0))
    messages = [m for box in record["mailbox"].values() for m in box]
    messages += [entry[4] for entry in record["queue"] if entry[3] == "deliver"]
    reports = [m.payload[1] for m in messages if m.tag[2:3] == ("report",) and isinstance(m.payload, tuple)
               and isinstance(m.payload[1], (DetectionBatch, PackedDetectionBatch))]  # (BBM92's: the index)
    report_bytes = sum(r.nbytes if isinstance(r, PackedDetectionBatch) else
                       sum(a.nbytes for a in vars(r).values() if isinstance(a, np.ndarray)) for r in reports)
    return record["processes"][0].process, reports, report_bytes, len(node_record_bytes(path, 0))


def _alice_blocks(path):
    """Alice's block processes in post-processing in a checkpoint (since 2026-12-06 the source emits on while
    they run: ``nodes.Bb84AliceBlock``)."""
    record = pickle.loads(node_record_bytes(path, 0))
    return [h.process for h in record["processes"][1:] if h.process is not None and not h.done]


def test_a_block_holds_a_round_trips_reports_and_its_packed_key_bits(tmp_path):
    """Checkpoints every 150 µs of simulated time inside 10-batch blocks: Alice's node never holds more than
    ``⌈round trip / batch time⌉ + 1`` = 2 reports (the code before held up to 10: all of the block's), its
    checkpoint record stays below those reports plus the packed key bits plus 16 KiB, the key bits take one bit
    each (Alice's and Bob's), and a resume from a checkpoint inside a block gives the uninterrupted run. At
    1e11 bit/s a report (~1.2e5 bits) takes 1.2 µs, so the round trip stays under a batch (since 2026-12-07,
    evening, the reports take their bits: at the default 1 Gbit/s they outrun the channel here, 120 µs a
    100 µs batch, and queue, so more are in flight)."""
    ck = tmp_path / "ck"
    full = run_in_process(tmp_path / "full.h5", "bb84_decoy_50km.toml", SMALL,
                          "--set", "qkd.classical_bit_rate_hz=1e11",
                          "--set", "checkpoint.every_sim_s=0.00015", "--set", f'checkpoint.directory="{ck}"',
                          "--set", "checkpoint.keep=100")
    batch_ps = round(100_000 * PS_PER_S / 1e9)
    round_trip_ps = 2 * propagation_delay_ps(10.0, 1.468)
    bound = math.ceil(round_trip_ps / batch_ps) + 1
    assert bound == 2 == nodes.max_reports_held(round_trip_ps, batch_ps, 10)
    biggest = 0  # bytes of the largest report seen
    inside = []
    for path in checkpoints(ck):
        alice, reports, report_bytes, record_bytes = _alice_holds(path)
        blocks = _alice_blocks(path)  # (in post-processing while the source emits on, since 2026-12-06)
        biggest = max([biggest] + [report_bytes // max(1, len(reports))] * bool(reports))
        if alice.phase != "emit" or (alice.batch % 10 == 0 and not blocks):
            continue  # between blocks: nothing pending
        inside.append(path)
        assert len(reports) <= bound, (path.name, alice.phase, alice.batch, len(reports))
        key_bits = [key.num_bits for key in alice.keys]
        assert key_bits[0] == key_bits[1]
        assert all(key.nbytes <= bits // 8 + 7 for key, bits in zip(alice.keys, key_bits))
        held = [key for keys in [alice.keys] + [b.keys for b in blocks] for key in keys]
        assert record_bytes <= report_bytes + sum(key.nbytes for key in held) + 16 * 1024, \
            (path.name, record_bytes, report_bytes)
    assert len(inside) >= 8
    # reports were folded before the block's end: some checkpoint inside a block's emission holds key bits
    folded = [p for p in inside if _alice_holds(p)[0].phase == "emit" and _alice_holds(p)[0].keys[0].num_bits]
    assert folded and biggest > 10_000
    resumed = tmp_path / "resumed.h5"
    assert main(["resume", str(folded[len(folded) // 2]), "-o", str(resumed), "--quiet"]) == 0
    same_tables(full, open_run(resumed), TABLES)


def _old_getstate(self):
    """``Bb84Alice.__getstate__`` before 2026-12-06: the block's key bits as lists of uint8 arrays."""
    state = dict(self.__dict__)
    state["pending"] = {i: (host, None) for i, (host, _batch) in self.pending.items()}
    state["keys"] = tuple([key.unpacked()[:5], key.unpacked()[5:]] for key in self.keys)
    return state


def test_a_checkpoint_inside_a_block_in_the_older_format_resumes_to_the_same_tables(tmp_path, monkeypatch):
    """A checkpoint written inside a block by the code before 2026-12-06 (every report of the block in Alice's
    mailbox, the key bits of those read as lists of uint8 arrays) resumes to the uninterrupted run's tables."""
    full = run_in_process(tmp_path / "full.h5", "bb84_decoy_50km.toml", SMALL)
    ck = tmp_path / "ck"
    with monkeypatch.context() as patch:
        hold_reports_to_the_block_end(patch)
        patch.setattr(nodes.Bb84Alice, "__getstate__", _old_getstate)
        patch.setattr(nodes.Bb84AliceBlock, "__getstate__", _old_getstate)
        run_in_process(tmp_path / "old.h5", "bb84_decoy_50km.toml", SMALL,
                       "--set", "checkpoint.every_sim_s=0.00015", "--set", f'checkpoint.directory="{ck}"',
                       "--set", "checkpoint.keep=100")
    old = {}
    for path in checkpoints(ck):
        alice, reports, _bytes, _size = _alice_holds(path)
        if alice.phase == "emit" and len(reports) >= 5 and "emit" not in old:
            old["emit"] = path  # mid-block, many reports waiting
        if any(b.phase == "reports" and b.keys[0].num_bits for b in _alice_blocks(path)) and "reports" not in old:
            old["reports"] = path  # some of the last reports read: key bits in the old lists
    assert sorted(old) == ["emit", "reports"]
    for phase, path in old.items():
        resumed = tmp_path / f"resumed-{phase}.h5"
        assert main(["resume", str(path), "-o", str(resumed), "--quiet"]) == 0
        same_tables(full, open_run(resumed), TABLES)
    assert nodes.packed_keys(([np.array([1, 0], np.uint8), np.array([1], np.uint8)], []))[0].unpacked().tolist() \
        == [1, 0, 1]


def _old_entangled_getstate(self):
    """An ``EntangledAlice`` pickled before 2026-12-06: the block's key bits as lists of uint8 arrays."""
    state = dict(self.__dict__)
    state["keys"] = tuple([key.unpacked()[:3], key.unpacked()[3:]] for key in self.keys)
    return state


def test_an_entangled_checkpoint_with_key_bits_in_the_older_format_resumes_to_the_same_tables(tmp_path,
                                                                                               monkeypatch):
    """BBM92 with Cascade and the finite key: a checkpoint inside a block whose key bits are lists of uint8
    arrays (the code before 2026-12-06) resumes to the uninterrupted run's tables, its bits packed on load. (At
    10 Gbit/s: since 2026-12-07 (morning) Bob's reports, which bring Alice's key bits, take their bits on the
    channel, 1.5 bits a pair, and at 1 Gbit/s the first one came after the checkpoints inside the block.)"""
    extra = ["--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=100000", "--set", "qkd.block_pulses=500000",
             "--set", "qkd.classical_bit_rate_hz=1e10"]
    full = run_in_process(tmp_path / "full.h5", "bbm92_finite_key.toml", extra)
    ck = tmp_path / "ck"
    with monkeypatch.context() as patch:
        patch.setattr(nodes.EntangledAlice, "__getstate__", _old_entangled_getstate, raising=False)
        run_in_process(tmp_path / "old.h5", "bbm92_finite_key.toml", extra, "--set", "checkpoint.every_sim_s=0.0002",
                       "--set", f'checkpoint.directory="{ck}"', "--set", "checkpoint.keep=100")
    inside = [path for path in checkpoints(ck) if _alice_holds(path)[0].keys[0].num_bits]
    assert inside, "no checkpoint was written inside a block with key bits"
    resumed = tmp_path / "resumed.h5"
    assert main(["resume", str(inside[len(inside) // 2]), "-o", str(resumed), "--quiet"]) == 0
    same_tables(full, open_run(resumed), ["blocks", "links"])
