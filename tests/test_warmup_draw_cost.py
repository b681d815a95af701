"""``dqsim warmup``'s draw of a QKD job's own LDPC codes (:func:`dqsim.scenarios.warmup.drawn_codes`): its cost
estimate counts the job's links (:data:`dqsim.scenarios.warmup.DRAW_SECONDS_PER_LINK`, since 2026-12-07 (night):
a 2,048-node chain at 1,000 pulses a link was estimated at 1.06 CPU s and took 17.2, review4), and a draw that
raises leaves the predicted codes to build with one note line, where the warm-up failed before."""

from __future__ import annotations

import pytest

from dqsim import jobs
from dqsim.errors import DqsimError
from dqsim.protocols.qkd import ldpc
from dqsim.scenarios import qkd_codes, warmup


def _chain(nodes: int):
    return jobs.apply_overrides(jobs.load_job("jobs/qkd_trusted_chain.toml"), [
        "qkd.pulses=1000", "qkd.batch_pulses=1000", 'qkd.error_correction="ldpc"', f"qkd.network.num_nodes={nodes}",
        f"qkd.network.distances_km={[20.0] * (nodes - 1)}"])


def test_the_draw_s_estimate_grows_with_the_links():
    small, large = warmup.draw_seconds(_chain(3)), warmup.draw_seconds(_chain(2048))
    assert small < 1.1
    assert large > 8.0  # (measured 5.9-17.2 CPU s; 1.06 estimated before the per-link term)
    per_link = warmup.DRAW_SECONDS_PER_LINK + warmup.DRAW_SECONDS_PER_PULSE["bb84_decoy"] * 1000
    assert large - small == pytest.approx(2045 * per_link, rel=1e-9)


def test_a_draw_that_raises_builds_the_predicted_codes_with_one_note(tmp_path, monkeypatch):
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(tmp_path))
    job = jobs.apply_overrides(jobs.load_job("jobs/bb84_decoy_50km.toml"), [
        "qkd.pulses=1000000", "qkd.batch_pulses=500000", "qkd.block_pulses=500000", 'qkd.error_correction="ldpc"'])
    built, notes = [], []

    def record(_seed, num_bits, rate):
        built.append((num_bits, rate))

    def refuse(*_args, **_kwargs):
        raise DqsimError("[qkd.network]: 65,536 nodes need\n 2 GB")

    record.cache_clear = lambda: None
    monkeypatch.setattr(ldpc, "mother_code", record)
    monkeypatch.setattr(warmup, "should_draw", lambda _job, _predicted: True)
    monkeypatch.setattr(warmup, "run_job", refuse)
    warmup.build_ldpc_codes(job, notes.append)
    predicted = qkd_codes.predicted_codes(job)
    assert built == predicted and built
    assert notes == [f"drawing the run's own LDPC codes of {job.run.name} failed (DqsimError: [qkd.network]: 65,536 "
                     f"nodes need 2 GB); building the {len(predicted)} predicted from its links' physics instead"]
    assert qkd_codes.kept_drawn_codes(job) is None


def _bbm92(*changes):
    return jobs.apply_overrides(jobs.load_job("jobs/bbm92_20km.toml"), [
        "qkd.pulses=200000", "qkd.batch_pulses=100000", "qkd.block_pulses=200000", 'qkd.error_correction="ldpc"',
        *changes])


@pytest.mark.parametrize("changes", [[], ["qkd.source.mean_pair_number=0.1"]])
def test_the_draw_s_memory_estimate_is_near_its_traced_peak(changes, monkeypatch):
    """:func:`warmup.draw_memory_bytes` (since 2026-12-07, late night) against tracemalloc's peak of the draw of a
    BBM92 link in batches of 100,000 pair slots (one pair a slot ~12.5 MB, SPDC ~20 MB measured; a first tiny draw
    loads the scenario's tables before): within 0.9-1.3 times it (bench/draw_memory.py: 1.01-1.11 times the peak
    resident set's growth from 4 MB up)."""
    import tracemalloc

    monkeypatch.setenv("DQSIM_CACHE_DIR", "off")
    warmup.drawn_codes(_bbm92("qkd.pulses=1000", "qkd.batch_pulses=1000", "qkd.block_pulses=1000", *changes))
    job = _bbm92(*changes)
    tracemalloc.start()
    try:
        warmup.drawn_codes(job)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.9 * peak <= warmup.draw_memory_bytes(job) <= 1.3 * peak, (warmup.draw_memory_bytes(job), peak)


def test_a_draw_expected_beyond_the_available_memory_is_not_started(tmp_path, monkeypatch):
    """Where the draw pays (:func:`warmup.should_draw`) but its memory is expected above half of the host's available
    memory, the warm-up builds the predicted codes with one note line and runs nothing (since 2026-12-07, late night;
    before, the draw was started and a job too large for the host ended in a MemoryError or an out-of-memory kill)."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(tmp_path))
    job = _bbm92()
    built, notes, ran = [], [], []

    def record(_seed, num_bits, rate):
        built.append((num_bits, rate))

    record.cache_clear = lambda: None
    monkeypatch.setattr(ldpc, "mother_code", record)
    monkeypatch.setattr(warmup, "should_draw", lambda _job, _predicted: True)
    monkeypatch.setattr(warmup, "run_job", lambda *_args, **_kwargs: ran.append(1))
    need = warmup.draw_memory_bytes(job)
    monkeypatch.setattr(warmup.backend_mod, "host_available_bytes", lambda: int(1.9 * need))
    warmup.build_ldpc_codes(job, notes.append)
    predicted = qkd_codes.predicted_codes(job)
    assert not ran and built == predicted and built
    assert notes == [f"not drawing the run's own LDPC codes of {job.run.name}: its draw is expected to take "
                     f"~{need / 1e6:,.0f} MB, more than 50% of the {1.9 * need / 1e6:,.0f} MB available; building the "
                     f"{len(predicted)} predicted from its links' physics instead"]
    monkeypatch.setattr(warmup.backend_mod, "host_available_bytes", lambda: int(2.1 * need))
    warmup.build_ldpc_codes(job, notes.append)
    assert ran and len(notes) == 1
