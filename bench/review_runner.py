"""The check loop the physics review scripts share (``bench/review_repeater_physics.py``,
``bench/review_trotter_physics.py``): run the named checks (all by default), time each, count the verdicts.

Each script keeps its checks in a ``{name: function}`` table and its verdicts as ``(what, ok)`` pairs.
"""

from __future__ import annotations

import os
import time
from typing import Callable


def run_checks(title: str, checks: dict[str, Callable[[], object]], argv: list[str], quick: bool,
               results: list[tuple[str, bool]]) -> list[str]:
    """Run the checks named in ``argv`` (options, ``--...``, skipped; none named: all) and print the
    count of verdicts with the machine's load; returns what failed."""
    names = [a for a in argv if not a.startswith("--")] or list(checks)
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
