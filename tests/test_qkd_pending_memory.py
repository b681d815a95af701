"""``dqsim check`` states the memory and checkpoint size of what a QKD key block holds until it ends.

Until 2026-12-06 Alice read Bob's detection reports (one :class:`DetectionBatch` per batch) only when the block's
last batch was sent, so a block held all of them (docs/review-newuser-20261206.md: 1.85 GB at 4.26e8 pulses of a
1e9-pulse block at 0 km), and ``dqsim check`` said so. Now she folds them as they come
(``tests/test_qkd_fold_reports.py``): a block holds a round trip's reports and, with Cascade, its key bits
packed, and ``dqsim check`` gives those.
"""

import pickle

import numpy as np

from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim.cli import check
from dqsim.jobs import apply_overrides, load_job
from dqsim.protocols.qkd import detections, nodes
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT

JOB = ROOT / "jobs" / "bb84_decoy_50km.toml"
# 5 km, a 10-pulse dead time and afterpulses (the rate formula's every term); two blocks of four batches.
SMALL = ["qkd.link.distance_km=5.0", "qkd.link.dead_time_ps=10000", "qkd.link.afterpulse_probability=0.02",
         "qkd.pulses=2000000", "qkd.batch_pulses=250000", "qkd.block_pulses=1000000"]
CASCADE = ['qkd.error_correction="cascade"']


def _per_click_arrays(batch):
    return [getattr(batch, name) for name in ("index", "intensity_class", "alice_basis", "alice_bit", "bob_basis",
                                              "bob_bit", "double_click", "eve_knows", "afterpulse")]


def test_bytes_per_detection_is_what_a_batch_holds():
    batch, _ = detections.detect_batch(detections.DecoySource(), channel=detections.ChannelModel(0.5),
                                       detector=detections.DetectorModel(), seed=3, start_pulse=0,
                                       num_pulses=10_000)
    assert batch.num_detected > 0
    assert sum(a.nbytes for a in _per_click_arrays(batch)) == detections.BYTES_PER_DETECTION * batch.num_detected


def test_estimate_matches_the_reports_and_key_bits_a_small_run_holds(monkeypatch):
    """The estimate of ``dqsim check`` against a small run with Cascade: one report's arrays (memory) and pickle
    (what a checkpoint holds of it), and the block's key bits packed (Alice's and Bob's), within 20 %."""
    job = apply_overrides(load_job(JOB), SMALL + CASCADE)
    reports: list[tuple[int, int]] = []
    keys: list[int] = []
    real_postprocess = nodes.postprocess_block

    real_pieces = detections.PackedDetectionBatch.pieces

    def measured(report, num_clicks):  # Alice reads each report she takes; in flight and in a checkpoint packed
        reports.append((report.nbytes, len(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))))
        return real_pieces(report, num_clicks)

    def keyed(counts, source, alice_key, bob_key, **kwargs):
        keys.append(alice_key.nbytes + bob_key.nbytes)  # packed: what nodes.KEY_BYTES_PER_KEY_BIT counts
        assert alice_key.num_bits == bob_key.num_bits
        return real_postprocess(counts, source, alice_key, bob_key, **kwargs)

    monkeypatch.setattr(detections.PackedDetectionBatch, "pieces", measured)
    monkeypatch.setattr(nodes, "postprocess_block", keyed)
    qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    ((link, distance, rate, held, report_bytes, key_bytes, _blocks),) = check.pending_report_bytes(job)
    assert (link, distance) == (0, 5.0) and 0.05 < rate < 0.2
    assert held == 2  # 5 km: a round trip of 49 µs, a batch of 250 µs
    assert len(reports) == 8 and len(keys) == 2
    for arrays, pickled in reports:
        assert abs(arrays / (report_bytes / held) - 1.0) < 0.2, (arrays, report_bytes)
        assert abs(pickled / (report_bytes / held) - 1.0) < 0.2, (pickled, report_bytes)
    for measured_key in keys:
        assert abs(measured_key / key_bytes - 1.0) < 0.2, (measured_key, key_bytes)
    lines = check.check_job(str(JOB), SMALL + CASCADE, 1)
    assert any(line.startswith("# key block of link 0 (5 km): Bob's detection reports folded as they come, up to 2 "
                               "held") and "key bits for Cascade, packed" in line
               and "checkpoint taken inside the block" in line for line in lines), lines


def test_check_warns_when_the_block_reports_pass_a_share_of_memory(monkeypatch):
    """At 0 km and 10 Gbit/s (at 1 Gbit/s the reports, 1.07 bits a pulse, would outrun the channel: a line of their
    own, and more held, :func:`test_check_counts_the_reports_queue_in_their_round_trip`)."""
    big = ["qkd.link.distance_km=0.0", "qkd.pulses=1000000000", "qkd.block_pulses=1000000000",
           "qkd.classical_bit_rate_hz=1e10"]
    job = apply_overrides(load_job(JOB), big + CASCADE)
    ((_link, _d, rate, held, reports, key, blocks),) = check.pending_report_bytes(job)
    assert blocks == 1.0  # one block in the run
    # packed in flight: a uint32 index, seven one-bit fields and the class in two bits (12 bytes until 2026-12-06)
    assert held == 2 and np.isclose(reports, 2 * 1e6 * rate * (4 + 9 / 8))
    share = detections.key_bits_per_detection(detections.DecoySource(intensities=(0.5, 0.1, 0.0),
                                                                     probabilities=(0.8, 0.1, 0.1)),
                                              channel=qkd_scenario.link_physics(job, 0, 0, 1, 0.0).channel,
                                              detector=qkd_scenario.link_physics(job, 0, 0, 1, 0.0).detector)
    assert 0.4 < share < 0.5 and np.isclose(key, 1e9 * rate * share / 4)  # two bits per key bit, 8 to a byte
    assert key < 1e9 * rate * 12 / 40  # what the block held before 2026-12-06, the reports: 40 times less at least
    monkeypatch.setattr(check, "machine_memory_bytes", lambda: int(reports + key))  # all of the memory
    warnings = [line for line in check.check_job(str(JOB), big + CASCADE, 1) if "warning" in line]
    assert len(warnings) == 1 and "lower [qkd].block_pulses (now 1,000,000,000)" in warnings[0], warnings
    monkeypatch.setattr(check, "machine_memory_bytes", lambda: int(100 * (reports + key)))
    assert not [line for line in check.check_job(str(JOB), big + CASCADE, 1) if "warning" in line]
    # without Cascade a block keeps no key bit: only the reports in flight
    ((_link, _d, _rate, _held, _reports, no_key, _blocks),) = check.pending_report_bytes(
        apply_overrides(load_job(JOB), big))
    assert no_key == 0.0


def test_check_counts_the_reports_queue_in_their_round_trip():
    """Where Bob's reports outrun the classical channel ``dqsim check`` says so in one line, with the numbers (bits
    a pulse, pulse rate, the channel's bit rate, the last report's wait over the run), and its memory lines count
    that wait in the reports' round trip (until 2026-12-07 (morning) 2d alone): BB84 at 2 km (0.25 clicks a pulse,
    1.07 bits) at 1 Gbit/s, against 10 Gbit/s; none at 20 km (0.65 bits a pulse since the enumerative code)."""
    near = ["qkd.link.distance_km=2.0"]
    job = apply_overrides(load_job(JOB), near)
    ((link, d, clicks, bits, rate, bit_rate, wait),) = check.report_backlog(job)
    batch_ps, report_ps = 1e6 * 1e12 / 1e9, bits * 1e6 * 1e12 / 1e9
    assert (link, d, rate, bit_rate) == (0, 2.0, 1e9, 1e9) and 1.0 < bits < 1.15 and 0.2 < clicks < 0.3
    assert wait == round((report_ps - batch_ps) * 19)  # 20 batches of 1e6 pulses: the last waits 19 times
    lines = [line for line in check.check_job(str(JOB), near, 1) if "outrun" in line]
    assert len(lines) == 1 and f"{bits:.3g} bits per pulse" in lines[0] and "classical_bit_rate_hz = 1e+09" in lines[0]
    assert f"waits {wait / 1e9:.3g} ms" in lines[0], lines
    ((_l, _d, _rate, held, *_rest),) = check.pending_report_bytes(job)
    phys = qkd_scenario.link_physics(job, 0, 0, 1, 2.0)
    assert held == nodes.max_reports_held(2 * phys.delay_ps + wait, int(batch_ps), 10) > 2
    fast = apply_overrides(load_job(JOB), near + ["qkd.classical_bit_rate_hz=1e10"])
    assert check.report_backlog(fast)[0][6] == 0 and check.pending_report_bytes(fast)[0][3] == 2
    for sets in (near + ["qkd.classical_bit_rate_hz=1e10"], ["qkd.link.distance_km=20.0"]):
        assert not [line for line in check.check_job(str(JOB), sets, 1) if "outrun" in line]


def test_check_gives_the_pending_memory_of_pulse_sampling_and_entangled_runs(monkeypatch):
    """Since 2026-12-06 ``dqsim check`` gives the line for BB84 sampled pulse by pulse and for BBM92/E91 too;
    against a small run each (Cascade): the packed messages in flight per batch and the block's packed key bits,
    within 20 %."""
    sent: list[int] = []
    keys: list[int] = []

    class Measured(nodes.PackedFields):
        def __init__(self, arrays, *, where=None):
            super().__init__(arrays, where=where)
            sent.append(self.nbytes)

    def key_of(real):
        def keyed(*args, **kwargs):
            alice_key = args[1] if real is nodes.entangled_block.entangled_postprocess_block else args[2]
            keys.append(2 * alice_key.nbytes)
            return real(*args, **kwargs)
        return keyed

    alice_sent: list[int] = []
    bob_sent: list[int] = []

    def recorded(real, into):  # BB84's messages, built a segment at a time since 2026-12-06
        def wrapper(*args, **kwargs):
            out = real(*args, **kwargs)
            into.append((out[0] if isinstance(out, tuple) else out).nbytes)
            return out
        return wrapper

    monkeypatch.setattr(nodes, "alice_pulses_message", recorded(nodes.alice_pulses_message, alice_sent))
    monkeypatch.setattr(nodes, "pulses_report", recorded(nodes.pulses_report, bob_sent))
    monkeypatch.setattr(nodes, "postprocess_block", key_of(nodes.postprocess_block))
    monkeypatch.setattr(nodes.entangled_block, "entangled_postprocess_block",
                        key_of(nodes.entangled_block.entangled_postprocess_block))
    cases = [("bb84_decoy_50km.toml", SMALL[:1] + ["qkd.pulses=400000", "qkd.batch_pulses=100000",
                                                    "qkd.block_pulses=400000", 'qkd.sampling="pulses"']),
             ("bbm92_20km.toml", ["qkd.pulses=400000", "qkd.batch_pulses=100000", "qkd.block_pulses=400000"]),
             ("e91_chsh.toml", ["qkd.pulses=400000", "qkd.batch_pulses=100000", "qkd.block_pulses=400000"])]
    for name, extra in cases:
        sent.clear()
        keys.clear()
        job = apply_overrides(load_job(ROOT / "jobs" / name), extra + CASCADE)
        with monkeypatch.context() as patch:
            if not name.startswith("bb84"):  # BBM92/E91: each message one PackedFields
                patch.setattr(nodes, "PackedFields", Measured)
            qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
        ((link, _d, held, messages, key, _blocks),) = check.pending_message_bytes(job)
        if name.startswith("bb84"):  # Alice's pulses, then Bob's report, built a segment at a time
            per_batch = [a + b for a, b in zip(alice_sent, bob_sent)]
            assert link == 0 and len(per_batch) == 4 and len(keys) == 1, (name, alice_sent, bob_sent, keys)
            for measured in per_batch:
                assert abs(measured / (messages / held) - 1.0) < 0.2, (name, measured, messages / held)
        else:  # BBM92/E91 (since the source is pumped without pause): no batch's arrays travel
            assert link == 0 and sent == [] and messages == 0.0 and held >= 1 and len(keys) == 1, (name, sent, keys)
        assert abs(keys[0] / key - 1.0) < 0.2, (name, keys[0], key)
        lines = check.check_job(str(ROOT / "jobs" / name), extra + CASCADE, 1)
        assert any(line.startswith("# key block of link 0") and "packed" in line for line in lines), lines


def test_check_gives_the_peak_of_a_cascade_block_end(monkeypatch):
    """At a key block's end Cascade and the rest of the post-processing run on the key bits packed (until 2026-12-06
    unpacked, a byte each, 14 bytes a key bit in all): ``dqsim check``'s figure against tracemalloc's peak in
    ``postprocess_block`` above what the run held before it, within 20 %, and that peak under 5 bytes a key bit
    (1.37 a key bit measured; 2.16 with the shuffle's byte a place, 14.3 before 2026-12-06)."""
    import tracemalloc

    sets = ["qkd.link.distance_km=0.0", "qkd.pulses=2000000", "qkd.batch_pulses=1000000",
            "qkd.block_pulses=2000000", *CASCADE]
    job = apply_overrides(load_job(JOB), sets)
    real_postprocess = nodes.postprocess_block
    peaks: list[tuple[int, int]] = []

    def measured(counts, source, alice_key, bob_key, **kwargs):
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        out = real_postprocess(counts, source, alice_key, bob_key, **kwargs)
        peaks.append((tracemalloc.get_traced_memory()[1] - held, alice_key.num_bits))
        return out

    monkeypatch.setattr(nodes, "postprocess_block", measured)
    # the kernels loaded (or compiled) before tracing: their loading is not the block's
    small = ["qkd.pulses=200000", "qkd.batch_pulses=100000", "qkd.block_pulses=200000"]
    qkd_scenario.run_job(apply_overrides(job, small), comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    peaks.clear()
    tracemalloc.start()
    try:
        qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    finally:
        tracemalloc.stop()
    ((_link, _distance, _rate, _held, _reports, key_bytes, _blocks),) = check.pending_report_bytes(job)
    ((peak, key_bits),) = peaks
    assert abs(peak / check.cascade_end_bytes(key_bytes) - 1.0) < 0.2, peak / check.cascade_end_bytes(key_bytes)
    assert peak / key_bits < 5.0, peak / key_bits
    lines = check.check_job(str(JOB), sets, 1)
    assert any("at the block's end Cascade works on the key bits packed" in line for line in lines), lines


def test_the_key_bits_of_the_blocks_open_at_once_match_what_dqsim_check_prints(monkeypatch):
    """The source emits on while earlier blocks are post-processed; a batch's key bits come with Bob's report
    (2d after the batch) and, since 2026-12-07 (later that day), the block's stay until its last report is in (its
    result is worked out then), H = 0: at 20 km (d = 98 µs), blocks of 100,000 pulses at 1 GHz (T = 100 µs) in
    two batches, one block's worth at once (nodes.blocks_holding_key_bits), which ``dqsim check`` gives;
    measured, the largest sum of the packed key bits that the source and the open block processes hold (after
    every fold of a report and as each block's result is worked out) is within 20 % of it, with
    ``max_blocks_in_postprocessing`` 16 or 2. (Until later that day a block held its key bits until its estimate
    message, 2d later: 2.5 blocks' worth here, and 2 with the bound 2; until 2026-12-07 ``dqsim check`` counted
    one block's.)"""
    sets = ["qkd.link.distance_km=20.0", "qkd.pulses=1500000", "qkd.batch_pulses=50000", "qkd.block_pulses=100000",
            *CASCADE]
    holders: list = []
    peak = [0]
    real_init, real_fold, real_postprocess = nodes.Bb84AliceBlock.__init__, nodes.Bb84Alice._fold_report, \
        nodes.postprocess_block

    def held(extra: int = 0) -> None:
        total = extra + sum(p.keys[0].nbytes + p.keys[1].nbytes for p in holders)
        peak[0] = max(peak[0], total)

    def registered(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        holders.append(self)

    def folded(self, *args, **kwargs):
        if self not in holders:
            holders.append(self)  # the source
        real_fold(self, *args, **kwargs)
        held()

    def estimated(counts, source, alice_key, bob_key, **kwargs):
        held(alice_key.nbytes + bob_key.nbytes)  # the block's keys, just taken from it
        return real_postprocess(counts, source, alice_key, bob_key, **kwargs)

    monkeypatch.setattr(nodes.Bb84AliceBlock, "__init__", registered)
    monkeypatch.setattr(nodes.Bb84Alice, "_fold_report", folded)
    monkeypatch.setattr(nodes.Bb84AliceBlock, "_fold_report", folded)
    monkeypatch.setattr(nodes, "postprocess_block", estimated)
    for bound, blocks_expected in ((16, 1.0), (2, 1.0)):
        holders.clear()
        peak[0] = 0
        job = apply_overrides(load_job(JOB), sets + [f"qkd.max_blocks_in_postprocessing={bound}"])
        qkd_scenario.run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
        ((_link, _d, _rate, _held, _reports, key, blocks),) = check.pending_report_bytes(job)
        assert abs(blocks - blocks_expected) < 0.05, blocks
        assert abs(peak[0] / (key * blocks) - 1.0) < 0.2, (bound, peak[0], key, blocks)
        lines = check.check_job(str(JOB), sets + [f"qkd.max_blocks_in_postprocessing={bound}"], 1)
        assert any(f"up to {blocks:.3g} blocks' worth held at once" in line for line in lines), lines


def test_the_entangled_pilot_is_drawn_once_for_key_bits_and_clicks(monkeypatch):
    """``dqsim check`` asks each BBM92/E91 link for its key bits a pair (the block's key memory) and Bob's clicks
    a pair (his reports' bits): one pilot draw of 2^16 pairs serves both since 2026-12-07 (later; each drew it
    before), with the counts of that draw."""
    job = load_job(ROOT / "jobs" / "bbm92_finite_key.toml")
    plan = qkd_scenario.build_plan(job)
    a, b, d = job.network_links(None)[0]
    batch = nodes.entangled_batch(np, plan, qkd_scenario.link_physics(job, 0, a, b, d), 0, 1 << 16)
    pair = nodes.entangled_block.key_pair_of_block(plan.protocol, True)
    expected = (nodes.entangled.sifted_key_bits(batch, key_pair=pair)[0].shape[0] / (1 << 16),
                np.count_nonzero(batch.bob_detected) / (1 << 16))
    drawn = []
    real = nodes.entangled_batch
    monkeypatch.setattr(nodes, "entangled_batch", lambda *args: drawn.append(args[3:]) or real(*args))
    nodes._entangled_pilot.cache_clear()
    phys = qkd_scenario.link_physics(job, 0, a, b, d)       # as check builds them: equal plans and links, new objects
    got = (nodes.entangled_key_bits_per_pair(qkd_scenario.build_plan(job), phys),
           nodes.entangled_bob_clicks_per_pair(qkd_scenario.build_plan(job), qkd_scenario.link_physics(job, 0, a, b, d)))
    assert got == expected and drawn == [(0, 1 << 16)]
