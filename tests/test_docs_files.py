"""Files the docs name exist: every ``bench/results/...`` file and result-file name, every ``jobs/...`` path.

A figure in README.md, docs/architecture.md or docs/performance.md cites the
file that records its run; a renamed or never-committed file leaves the figure
without its source.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ("README.md", "docs/architecture.md", "docs/performance.md")
#: A path under bench/results/ or jobs/ (no wildcards, placeholders or brace lists).
PATH = re.compile(r"(?<![\w/])((?:bench/results|jobs)/[A-Za-z0-9_.\-/]*[A-Za-z0-9_/])")
#: A result file named without its folder: `chain-fixed-vm-20261204.md`, `run1-....json` (a date in the name).
RESULT_NAME = re.compile(r"`([A-Za-z0-9_.\-]*-20\d{6}[A-Za-z0-9_.\-]*\.(?:md|json|log|txt|csv))`")


def named_paths(text):
    return {m.group(1).rstrip(".") for m in PATH.finditer(text)}


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_under_bench_results_and_jobs_exists(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    missing = sorted(p for p in named_paths(text) if not (ROOT / p).exists())
    assert not missing, f"{doc} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_every_result_file_named_alone_is_under_bench_results(doc):
    text = (ROOT / doc).read_text(encoding="utf-8")
    results = {p.name for p in (ROOT / "bench" / "results").rglob("*")}
    missing = sorted(name for name in RESULT_NAME.findall(text) if name not in results)
    assert not missing, f"{doc} names result files that are not under bench/results/: {missing}"


def test_the_patterns_find_what_they_should():
    text = "see `bench/results/x-vm-20261205.md`, jobs/quickstart.toml and `chain-vm-cp-20261205.md`."
    assert named_paths(text) == {"bench/results/x-vm-20261205.md", "jobs/quickstart.toml"}
    assert RESULT_NAME.findall(text) == ["chain-vm-cp-20261205.md"]
