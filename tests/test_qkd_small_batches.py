"""BB84 sampled pulse by pulse (``sampling = "pulses"``) in batches far smaller than a random-number chunk.

The boundary runs of 2026-12-06 (``bench/results/boundary-runs-vm-20261206.md``) found that a batch redrew
the whole 2^16-pulse chunk of Alice's draws and of Bob's (and Eve's) uniforms for the few pulses it used, so
``batch_pulses = 1`` cost what 2^16 pulses cost, per pulse. A chunk a batch uses only part of is now drawn once
and kept for the next batches (``bb84._ChunkCache``): the same numbers, so the tables of a run do not depend on
the batch size.
"""

import numpy as np

from dqsim.cli.main import main
from dqsim.io import open_run
from dqsim.protocols.qkd import bb84
from dqsim.protocols.qkd.bb84 import CHUNK, DecoySource, DetectorModel, EveModel, alice_batch, bob_detect
from dqsim.rng import Stream
from mpi_helper import ROOT


def forget_kept_chunks():
    kept = getattr(bb84, "_PARTIAL_CHUNKS", None)  # absent before 2026-12-06
    if kept is not None:
        kept._entries.clear()


def test_one_pulse_batches_draw_each_chunk_once(monkeypatch):
    """300 one-pulse batches across a chunk boundary draw each chunk of each stream (Alice, Bob, Eve) once,
    and give the pulses and detections of one 300-pulse batch."""
    forget_kept_chunks()
    drawn = []
    make = Stream.generator

    def counting(self, event):
        drawn.append((self.purpose, event))
        return make(self, event)

    monkeypatch.setattr(Stream, "generator", counting)
    source, detector = DecoySource(), DetectorModel(efficiency=0.8)
    eve = EveModel(attack="intercept_resend", fraction=0.5)
    start = CHUNK - 150
    pieces, state = [], None
    for i in range(300):
        alice = alice_batch(np, source, 7, start + i, 1, node=0)
        bob, state = bob_detect(np, alice, transmittance=0.5, detector=detector, eve=eve, seed=7,
                                receiver_state=state, node=1)
        pieces.append((alice, bob))
    assert sorted(drawn) == sorted((purpose, chunk) for purpose in (bb84.PURPOSE_ALICE, bb84.PURPOSE_BOB,
                                                                    bb84.PURPOSE_EVE) for chunk in (0, 1)), drawn
    monkeypatch.undo()
    forget_kept_chunks()
    alice = alice_batch(np, source, 7, start, 300, node=0)
    bob, _ = bob_detect(np, alice, transmittance=0.5, detector=detector, eve=eve, seed=7, node=1)
    assert int(bob.detected.sum()) > 20
    for name in ("basis", "bit", "intensity_class", "photons"):
        np.testing.assert_array_equal(np.concatenate([getattr(a, name) for a, _b in pieces]), getattr(alice, name))
    for name in ("detected", "basis", "bit", "double_click", "eve_knows"):
        np.testing.assert_array_equal(np.concatenate([getattr(b, name) for _a, b in pieces]), getattr(bob, name))


def test_one_pulse_batches_write_the_tables_of_the_default_batches(tmp_path):
    """A 3,000-pulse run at 1 km in one-pulse batches and in one batch: every table but the times alike, but for
    the blocks' count of classical messages, which holds one detection report per batch (the authentication's
    default, one tag per direction over the block's transcript, is the same: the reports hold as many bits).
    (Since 2026-12-07, evening, the reports take their bits on the channel, so the simulated times differ;
    before, they did not, and the times were compared too.)"""
    common = ["--set", 'qkd.sampling="pulses"', "--set", "qkd.pulses=3000", "--set", "qkd.block_pulses=3000",
              "--set", "qkd.link.distance_km=1.0", "--quiet"]
    runs = []
    for batch in (1, 3000):
        out = tmp_path / f"batch{batch}.h5"
        assert main(["run", str(ROOT / "jobs" / "bb84_decoy_50km.toml"), "-o", str(out),
                     "--set", f"qkd.batch_pulses={batch}", *common]) == 0
        runs.append(open_run(out))
    times = {"simulated_time_ps", "key_available_ps", "time_sifting_ps", "time_estimation_ps", "time_key_ps",
             "key_ready_ps"}
    # (the one batch's report, ~3,800 bits, goes after its last pulse; one-pulse reports go as the pulses do)
    assert runs[0].table("links")["simulated_time_ps"][0] < runs[1].table("links")["simulated_time_ps"][0]
    for name in [name for name in runs[0].tables if name not in ("timing", "timeline")]:
        a, b = (run.table(name) for run in runs)
        for field in a.dtype.names:
            if field not in times | {"classical_messages"}:
                assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), (name, field)
    one, whole = (run.table("blocks") for run in runs)
    assert (one["classical_messages"] - whole["classical_messages"]).tolist() == [3000 - 1]
