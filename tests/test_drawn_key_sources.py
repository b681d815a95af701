"""The key of ``dqsim warmup``'s drawn LDPC codes (:func:`dqsim.scenarios.qkd_codes.drawn_key`) changes with the
code that decides the draws: until 2026-12-07 (night) it held ``dqsim.__version__`` alone ("0.1.0" since the
start), so a change to QKD's physics, sampling or streams kept a stale drawn list (review4)."""

from __future__ import annotations

from dqsim import jobs
from dqsim.scenarios import qkd_codes


def _sources(root, text: str):
    (root / "protocols" / "qkd").mkdir(parents=True, exist_ok=True)
    (root / "scenarios").mkdir(exist_ok=True)
    (root / "protocols" / "qkd" / "ldpc.py").write_text(text)
    (root / "scenarios" / "qkd.py").write_text("RUN = 1\n")
    (root / "scenarios" / "other.py").write_text("NOT_HASHED = 1\n")  # (no draw source: its changes do not count)


def test_the_sources_hash_changes_with_a_source_and_not_with_another_file(tmp_path, monkeypatch):
    monkeypatch.setattr(qkd_codes, "_SOURCES_SHA256", {})
    _sources(tmp_path, "RATE = 0.5\n")
    first = qkd_codes.draw_sources_sha256(tmp_path)
    (tmp_path / "scenarios" / "other.py").write_text("NOT_HASHED = 2\n")
    monkeypatch.setattr(qkd_codes, "_SOURCES_SHA256", {})
    assert qkd_codes.draw_sources_sha256(tmp_path) == first
    (tmp_path / "protocols" / "qkd" / "ldpc.py").write_text("RATE = 0.6\n")
    assert qkd_codes.draw_sources_sha256(tmp_path) == first  # (once per process: the first answer kept)
    monkeypatch.setattr(qkd_codes, "_SOURCES_SHA256", {})
    assert qkd_codes.draw_sources_sha256(tmp_path) != first


def test_the_drawn_key_changes_with_the_sources_hash(monkeypatch):
    job = jobs.load_job("jobs/bb84_decoy_50km.toml")
    before = qkd_codes.drawn_key(job)
    assert before["sources"] == qkd_codes.draw_sources_sha256() and len(before["sources"]) == 64
    monkeypatch.setattr(qkd_codes, "draw_sources_sha256", lambda root=None: "0" * 64)
    after = qkd_codes.drawn_key(job)
    assert after != before and {key: value for key, value in after.items() if key != "sources"} == \
        {key: value for key, value in before.items() if key != "sources"}
