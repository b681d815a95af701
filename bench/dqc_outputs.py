"""Fingerprints of dqsim run files: every table and attribute that a code change must leave as it was.

Used to show that a change of the DQC node programs leaves the engine's
events and every result bit for bit: run the same jobs before and after on
1 and 2 ranks and compare the printed lines (``diff``). Left out: the
``timing`` table, wall and CPU times, the creation time, the job's path and
``--set`` options, and the run file's own name.

Usage: ``python bench/dqc_outputs.py RUN.h5 [RUN.h5 ...]`` prints one line per
file: its name, the SHA-256 (16 hex digits) of every table and of the
remaining attributes, and the engine's event and message counts.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from dqsim.io import open_run

#: Attributes that change from one run to the next without any change of the results.
VOLATILE = ("created_utc", "wall_time_s", "job_path", "overrides", "engine_flush_seconds", "engine_state_seconds")


def digest(value) -> str:
    """The first 16 hex digits of the SHA-256 of ``value``'s bytes (an array) or ``repr`` (anything else)."""
    data = value.tobytes() + repr(value.dtype).encode() if isinstance(value, np.ndarray) else repr(value).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def fingerprint(path: str) -> str:
    """One line: the file's tables and result attributes, hashed (see the module docstring)."""
    run = open_run(path)
    attrs = {key: value for key, value in run.attrs.items() if key not in VOLATILE and not key.endswith("_seconds")}
    parts = [f"{name}={digest(run.table(name))}" for name in run.tables if name != "timing"]
    parts.append(f"attrs={digest(sorted((k, repr(v)) for k, v in attrs.items()))}")
    parts.append(f"events={attrs.get('engine_events')} messages={attrs.get('engine_messages')}")
    return " ".join(parts)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(name.rsplit("/", 1)[-1], fingerprint(name))
