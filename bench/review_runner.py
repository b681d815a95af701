"""The argument handling and check loop the review scripts share (``bench/review_repeater_physics.py``,
``bench/review_trotter_physics.py``, ``bench/review_cloud.py``, ``bench/review_dqc_physics.py``,
``bench/review_qkd_physics.py``, ``bench/review_qkd_networks.py``): read the options and check names, run the
named checks (all by default), time each, count the verdicts.

Each script keeps its checks in a ``{name: function}`` table and its verdicts as ``(what, ok)`` pairs.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable


def parse_args(prog: str, checks: dict, argv: list[str], usage: str, options: tuple[str, ...] = ("--quick",),
               quick_checks: list[str] | None = None) -> list[str]:
    """The checks ``argv`` names (all of ``checks`` by default; with ``--quick``, ``quick_checks`` where given).

    ``--help`` or ``-h``: prints ``usage`` (the script's docstring) and exits 0. An option other than
    ``options`` or a name not in ``checks``: one line on stderr and exit 2, before any check runs.

    Examples:
        >>> parse_args("x", {"a": 1, "b": 2}, ["b"], "usage"), parse_args("x", {"a": 1}, ["--quick"], "usage")
        (['b'], ['a'])
        >>> parse_args("x", {"a": 1, "b": 2}, ["--quick"], "usage", quick_checks=["b"])
        ['b']
    """
    if "--help" in argv or "-h" in argv:
        print(usage.strip())
        print(f"\noptions: --help {' '.join(options)}; checks: {' '.join(checks)}")
        raise SystemExit(0)
    bad_options = [a for a in argv if a.startswith("-") and a not in options]
    bad_names = [a for a in argv if not a.startswith("-") and a not in checks]
    if bad_options or bad_names:
        what = "; ".join(f"unknown {kind} {' '.join(bad)}" for kind, bad in (("option", bad_options),
                                                                              ("check", bad_names)) if bad)
        print(f"{prog.removesuffix('.py')}.py: {what}; options: --help {' '.join(options)};"
              f" checks: {' '.join(checks)}", file=sys.stderr)
        raise SystemExit(2)
    names = [a for a in argv if not a.startswith("-")]
    if names:
        return names
    return list(quick_checks) if quick_checks is not None and "--quick" in argv else list(checks)


def run_checks(title: str, checks: dict[str, Callable[[], object]], argv: list[str], quick: bool,
               results: list[tuple[str, bool]], usage: str = "", quick_checks: list[str] | None = None) -> list[str]:
    """Run the checks named in ``argv`` (:func:`parse_args`: ``--help``, unknown options and names exit first)
    and print the count of verdicts with the machine's load; returns what failed."""
    names = parse_args(title, checks, argv, usage or title, quick_checks=quick_checks)
    start = time.time()
    print(f"{title}: {'quick' if quick else 'full'}; load {os.getloadavg()}", flush=True)
    for name in names:
        t = time.time()
        checks[name]()
        print(f"  ({name}: {time.time() - t:.1f} s)", flush=True)
    failed = [what for what, ok in results if not ok]
    print(f"{len(results) - len(failed)} PASS, {len(failed)} FAIL in {time.time() - start:.0f} s;"
          f" load {os.getloadavg()}", flush=True)
    return failed
