"""The wheel: built from a copy of the source tree, it holds every dqsim package and the example jobs.

``dqsim examples`` after ``pip install dqsim`` copies the jobs out of the
package ``dqsim.example_jobs`` (setup.py maps it onto jobs/); in a source
checkout it reads jobs/ instead, so only a built wheel shows that the
mapping works. The build needs setuptools and wheel: from the venv when it
has them, else pip fetches them into an isolated build environment (the
package index; CI has it).
"""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mpi_helper import ROOT, child_env


def _build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "dqsim", source / "dqsim", ignore=ignore)
    shutil.copytree(ROOT / "jobs", source / "jobs", ignore=ignore)
    out = tmp_path / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
                          capture_output=True, text=True, timeout=240, env=child_env())
    if proc.returncode != 0 and ("Could not find a version" in proc.stderr or "NewConnectionError" in proc.stderr):
        pytest.skip(f"pip could not fetch setuptools/wheel for the build: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr
    (wheel,) = out.glob("dqsim-*.whl")
    return wheel


def test_the_wheel_ships_every_package_and_the_example_jobs_that_dqsim_examples_copies(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    jobs = sorted(p.relative_to(ROOT / "jobs").as_posix() for p in (ROOT / "jobs").rglob("*")
                  if p.suffix in (".toml", ".qasm", ".csv"))
    assert len(jobs) >= 20
    assert {f"dqsim/example_jobs/{job}" for job in jobs} <= names
    packages = sorted(p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "dqsim").rglob("__init__.py"))
    assert {f"{package}/__init__.py" for package in packages} <= names
    assert not [name for name in names if name.startswith(("tests/", "bench/", "jobs/"))]
    # The packaged dqsim (not the source tree) finds its examples as an installed one does.
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    target = tmp_path / "copied"
    env = {**child_env(), "PYTHONPATH": str(unpacked)}
    proc = subprocess.run([sys.executable, "-c", "import sys, dqsim.cli.main as m; sys.exit(m.main())",
                           "examples", str(target)], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()) == jobs


def test_readme_names_every_extra():
    """README's "Extras:" paragraph names each extra of pyproject.toml (``finite-key`` was missing)."""
    import re
    import tomllib

    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    readme = (ROOT / "README.md").read_text()
    paragraph = readme[readme.index("\nExtras: "):].split("\n\n", 1)[0]
    named = set(re.findall(r"`([a-z][a-z0-9-]*)`(?= \(|,|\.)", paragraph))
    assert extras <= named, sorted(extras - named)
