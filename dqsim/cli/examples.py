"""``dqsim examples [DIR]``: copy the example job files (and the QASM circuits and edge lists they read) into DIR.

The jobs come with the package (``dqsim.example_jobs``, installed from the
repository's ``jobs/`` folder, see setup.py); in a source checkout that is
not installed as a wheel they are read from ``jobs/`` beside the package.
Files already in DIR are left alone and named (exit status 2), so a
user's edited copy is never overwritten; a DIR that is a file or cannot be
created is one line saying so and why (exit status 2).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import dqsim
from dqsim.errors import DqsimError

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2
#: The package holding the example jobs in an installed dqsim.
EXAMPLES_PACKAGE = "dqsim.example_jobs"
#: Where ``dqsim examples`` copies to when no folder is given.
DEFAULT_DIR = "dqsim-examples"
_SUFFIXES = (".toml", ".qasm", ".csv")


def example_files() -> dict[str, Path]:
    """Relative path (``quickstart.toml``, ``circuits/random_12q.qasm``) -> the file to copy.

    Raises:
        FileNotFoundError: neither the installed package nor a source checkout has them.
    """
    try:
        spec = importlib.util.find_spec(EXAMPLES_PACKAGE)
    except ModuleNotFoundError:
        spec = None
    # The jobs folder has no __init__.py, so the installed package is a namespace package:
    # importlib.resources.files() gives a MultiplexedPath there, whose str() is no path (every
    # installed dqsim found no examples). Its folder is in the spec's search locations.
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    root = Path(locations[0]) if locations else Path(dqsim.__file__).resolve().parent.parent / "jobs"
    files = {str(path.relative_to(root)): path for path in sorted(root.rglob("*"))
             if path.suffix in _SUFFIXES and path.is_file()}
    if not files:
        raise FileNotFoundError(f"no example jobs in {root}")
    return files


def copy_examples(target: Path) -> list[Path]:
    """Copy every example into ``target`` (made if missing); the files written.

    Raises:
        FileExistsError: some example already exists in ``target`` (nothing is copied).
        DqsimError: one line: ``target`` is a file, cannot be created (and why), or a file cannot be written.
    """
    files = example_files()
    if target.exists() and not target.is_dir():
        raise DqsimError(f"{target}: is a file, not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DqsimError(f"{target}: cannot create the folder ({exc.strerror or exc})") from None
    clashes = [name for name in files if (target / name).exists()]
    if clashes:
        raise FileExistsError(f"{target}: already has {', '.join(clashes[:3])}"
                              f"{' ...' if len(clashes) > 3 else ''}; give an empty or new folder")
    written = []
    for name, source in files.items():
        try:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copyfile(source, target / name)))
        except OSError as exc:
            raise DqsimError(f"{target / name}: cannot write the file ({exc.strerror or exc})") from None
    return written


def cmd_examples(args) -> int:
    """``dqsim examples [DIR]``."""
    target = Path(args.dir)
    try:
        written = copy_examples(target)
    except (OSError, DqsimError) as exc:  # FileExistsError, FileNotFoundError among them
        print(f"dqsim: error: {exc}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    jobs = sorted(p.name for p in written if p.suffix == ".toml")
    circuits = sum(p.suffix == ".qasm" for p in written)
    networks = sum(p.suffix == ".csv" for p in written)
    read = [f"{circuits} QASM circuit(s)" if circuits else "", f"{networks} edge list(s)" if networks else ""]
    read = " and ".join(part for part in read if part)
    where = " and ".join(f"{folder}/" for folder, count in (("circuits", circuits), ("networks", networks)) if count)
    print(f"copied {len(written)} files into {target}: {', '.join(jobs)}"
          + (f", and {read} they read, under {where}" if read else ""))
    print(f"run one with: dqsim run {target / 'quickstart.toml'}   (under mpiexec -n 4 for 4 ranks)")
    return 0
