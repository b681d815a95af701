"""Files the docs name exist (every ``bench/results/...`` file and result-file name, every ``jobs/...`` path),
and every ``DQSIM_*`` environment variable the code reads is named in them.

A figure in README.md, docs/architecture.md (and the record behind its "Not done yet", docs/not-done-history.md),
docs/performance.md or the user's pages under docs/ (running, checkpoints, slurm, outputs, protocols, install:
README's sections before 2026-12-07 (night)) cites the file that records its run; a renamed or never-committed file
leaves the figure without its source.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The user's pages (README's sections until 2026-12-07 (night)), then the developers'.
USER_DOCS = ("README.md", "docs/install.md", "docs/running.md", "docs/checkpoints.md", "docs/slurm.md",
             "docs/outputs.md", "docs/protocols.md")
DOCS = USER_DOCS + ("docs/architecture.md", "docs/not-done-history.md", "docs/performance.md")
#: A path under bench/ (results included), jobs/, slurm/, scripts/, tests/, examples/ or docs/ (no wildcards or placeholders).
PATH = re.compile(r"(?<![\w/])((?:bench|jobs|slurm|scripts|tests|examples|docs)/[A-Za-z0-9_.\-/]*[A-Za-z0-9_/])")
#: A result file named without its folder: `chain-fixed-vm-20261204.md`, `run1-....json` (a date in the name).
RESULT_NAME = re.compile(r"`([A-Za-z0-9_.\-]*-20\d{6}[A-Za-z0-9_.\-]*\.(?:md|json|log|txt|csv))`")


def named_paths(text):
    return {m.group(1).rstrip(".") for m in PATH.finditer(text)}


@pytest.mark.parametrize("doc", DOCS)
def test_every_path_the_docs_name_exists(doc):
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


def environment_variables_read():
    """``DQSIM_*`` names that dqsim's code uses as string constants (what it reads from the environment)."""
    names = set()
    for path in (ROOT / "dqsim").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"DQSIM_[A-Z0-9_]+", node.value):
                names.add(node.value)
    return names


def test_every_environment_variable_the_code_reads_is_documented():
    """(``DQSIM_BACKEND``, which overrides ``[run].backend = "auto"``, was named nowhere a user reads.)"""
    pages = USER_DOCS + ("docs/architecture.md", "docs/not-done-history.md")
    docs = "".join((ROOT / doc).read_text(encoding="utf-8") for doc in pages)
    names = environment_variables_read()
    assert {"DQSIM_BACKEND", "DQSIM_CUDA_DENSE"} <= names
    assert sorted(n for n in names if n not in docs) == []
