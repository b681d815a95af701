"""The layers of docs/architecture.md ("## Layers"), held to every import of every module.

Arrows point down only: a sub-package imports only sub-packages below it, and
the siblings the page names (``engine`` and ``protocols`` use ``circuit``);
``mpi4py`` only in ``comm``, CuPy and numba only in ``backend``, h5py only in
``io``, and ``io`` only from ``cli`` and ``engine/checkpoint.py``. Imports
inside functions count as much as those at the top.
"""

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dqsim"

#: Height of each top-level part of dqsim, as drawn in docs/architecture.md "## Layers".
LEVEL = {"api": 8, "__main__": 8, "cli": 7, "scenarios": 6, "jobs": 5,
         "protocols": 4, "engine": 4, "circuit": 4, "network": 3, "state": 2,
         "backend": 1, "comm": 1, "rng": 1, "io": 1,
         "units": 0, "errors": 0, "checks": 0, "caches": 0, "__init__": 0}
#: Imports between parts of one height that the page names.
SIBLINGS = {("engine", "circuit"), ("protocols", "circuit"), ("checks", "errors")}
#: Third-party modules only one part may import.
OWNER = {"mpi4py": {"comm"}, "cupy": {"backend"}, "cupyx": {"backend"}, "numba": {"backend"},
         "h5py": {"io"}}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imports(path: Path):
    """``(line, dotted module)`` of every import in the file, relative ones resolved."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = list(package[:len(package) - node.level + 1]) if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            if module == "dqsim":  # from dqsim import io: the sub-package is the name imported
                for alias in node.names:
                    yield node.lineno, f"dqsim.{alias.name}"
            else:
                yield node.lineno, module


@functools.lru_cache(maxsize=None)
def all_imports():
    """``(path, "file:line", module)`` of every import in dqsim, parsed once for all the tests of this file."""
    return tuple((path, f"{path.relative_to(ROOT)}:{line}", module)
                 for path in sorted(PACKAGE.rglob("*.py")) for line, module in imports(path))


def test_the_layer_table_covers_every_part():
    parts = {part_of(p) for p in PACKAGE.rglob("*.py")}
    assert parts <= set(LEVEL), sorted(parts - set(LEVEL))


def test_imports_point_down_only():
    wrong = []
    for path, where, module in all_imports():
        names = module.split(".")
        if names[0] != "dqsim" or len(names) == 1:
            continue  # third-party, or `import dqsim` (its __init__ imports nothing)
        source, target = part_of(path), names[1]
        if source == target or (source, target) in SIBLINGS:
            continue
        if LEVEL[target] >= LEVEL[source]:
            wrong.append(f"{where}: {source} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_layer_rule_would_catch_an_upward_import():
    assert LEVEL["scenarios"] >= LEVEL["engine"] and ("engine", "scenarios") not in SIBLINGS
    assert ("circuit", "engine") not in SIBLINGS and LEVEL["engine"] >= LEVEL["circuit"]


@pytest.mark.parametrize("library", sorted(OWNER))
def test_third_party_libraries_stay_in_their_layer(library):
    found = [f"{where}: {module}" for path, where, module in all_imports()
             if module.split(".")[0] == library and part_of(path) not in OWNER[library]]
    assert not found, "\n".join(found)


def test_only_cli_and_checkpoint_import_io():
    found = [where for path, where, module in all_imports()
             if module.startswith("dqsim.io") and part_of(path) not in ("io", "cli")
             and path.relative_to(PACKAGE).as_posix() != "engine/checkpoint.py"]
    assert not found, found
