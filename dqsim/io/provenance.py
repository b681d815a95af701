"""Which code wrote a run file: the git commit of the dqsim source tree.

``dqsim_version`` is the package's version, the same for every commit of the
project; :func:`code_commit` tells files made by different code apart. It is
the output of ``git rev-parse HEAD`` in the checkout dqsim is imported from,
with ``+dirty`` where a tracked file differs from that commit
(``git status --porcelain --untracked-files=no`` is not empty), and
``"unknown"`` where dqsim is not imported from a git checkout (an installed
wheel), git is missing, or git fails: a run never fails over it. It is
computed once per process (two git calls, a few milliseconds), on the rank
that writes the file.

A run's files are told apart from another run's of the same job by its run id
(:func:`new_run_id`): drawn once at the run's start, recorded in every
checkpoint manifest and in the output's manifest, so ``dqsim clean`` pairs a
run's checkpoints with its output without comparing modification times.
"""

from __future__ import annotations

import functools
import secrets
import subprocess
from pathlib import Path
from typing import Optional

import dqsim

#: The value where the commit cannot be known.
UNKNOWN = "unknown"
#: Suffix of a commit whose tracked files were changed in the checkout.
DIRTY = "+dirty"
#: Hex digits of a run id (:func:`new_run_id`): 128 random bits.
RUN_ID_DIGITS = 32

#: Seconds one git call may take before the commit is given as unknown.
GIT_TIMEOUT_S = 10.0


def _git(source: Path, *args: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit_of(source: Path) -> str:
    """The commit of the git checkout whose root is ``source`` (a directory holding ``.git``): ``HEAD``'s 40
    hex digits, ``+dirty`` where a tracked file was changed; ``"unknown"`` where ``source`` is no checkout's
    root (site-packages, even inside a checkout) or git fails.

    Examples:
        >>> import tempfile
        >>> commit_of(Path(tempfile.mkdtemp()))
        'unknown'
    """
    if not (source / ".git").exists():
        return UNKNOWN  # not a checkout's root (an installed package): not the commit of a tree around it
    head = _git(source, "rev-parse", "HEAD")
    if not head:
        return UNKNOWN
    status = _git(source, "status", "--porcelain", "--untracked-files=no")
    if status is None:
        return UNKNOWN
    return head + (DIRTY if status else "")


@functools.lru_cache(maxsize=1)
def code_commit() -> str:
    """The commit of the source tree this ``dqsim`` was imported from (see :func:`commit_of`), once per process."""
    return commit_of(Path(dqsim.__file__).resolve().parent.parent)


def new_run_id() -> str:
    """A new run id: :data:`RUN_ID_DIGITS` hex digits from the operating system's random source (``secrets``), so
    two runs never share one (two of 2^128). Drawn on one rank and sent to the others
    (:func:`dqsim.engine.checkpoint.start_run_id`).

    Examples:
        >>> len(new_run_id()), new_run_id() != new_run_id()
        (32, True)
    """
    return secrets.token_hex(RUN_ID_DIGITS // 2)
