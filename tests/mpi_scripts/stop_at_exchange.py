"""A job run uninterrupted, then stopped at a chosen exchange and resumed, in one launch.

Usage: python stop_at_exchange.py FOLDER EXCHANGE RANK JOB [--set ...]

Runs ``dqsim run JOB ... -o FOLDER/full.h5``; then the same with checkpoints
in ``FOLDER/ck`` and a stop requested on launcher rank ``RANK`` just before its
``EXCHANGE``-th exchange (what the SIGUSR1/SIGTERM handler does), which must
end with status 75; then ``dqsim resume`` of the checkpoint it wrote, to
``FOLDER/resumed.h5``. Exits with the first unexpected status.

Usage: python stop_at_exchange.py --cases CASES.json

Each case of the JSON list ``[[FOLDER, EXCHANGE, RANK, [JOB, --set ...], FULL], ...]`` in turn, as above, in this
one launch (one interpreter start per rank for all of them), without the uninterrupted run where FULL is false (a
test that compares with a run of its own); exits at the first unexpected status, naming its case.
"""

import json
import os
import sys
from pathlib import Path

from dqsim.cli import console_main
from dqsim.engine import checkpoint

RANK = int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0")))


def stop_at(exchange: int, rank: int):
    original, calls = checkpoint.Checkpointer.requested, []

    def requested(self):
        calls.append(1)
        if RANK == rank and len(calls) == exchange:
            checkpoint.request_stop()
        return original(self)

    checkpoint.Checkpointer.requested = requested
    return original


def checkpoint_dir(folder: Path, name: str) -> list[str]:
    return ["--set", f"checkpoint.directory=\"{folder / name}\"", "--quiet"]


def run_case(folder: Path, exchange: int, rank: int, job: list[str], full: bool = True) -> None:
    """The uninterrupted run (where ``full``), the run stopped at ``exchange`` on launcher rank ``rank``, and its
    resume, in ``folder``; SystemExit at the first unexpected status."""
    if full and console_main(["run", *job, *checkpoint_dir(folder, "full"), "-o", str(folder / "full.h5")]) != 0:
        raise SystemExit(f"{folder}: the uninterrupted run failed")
    original = stop_at(exchange, rank)
    status = console_main(["run", *job, *checkpoint_dir(folder, "ck"), "-o", str(folder / "stopped.h5")])
    checkpoint.Checkpointer.requested = original
    checkpoint.forget_stop()
    if status != 75:
        raise SystemExit(f"{folder}: the stopped run ended with status {status}, not 75")
    written = sorted(p for p in (folder / "ck").glob("*.h5")
                     if ".slab" not in p.name and p.with_name(p.name[:-3] + ".manifest.json").exists())
    if console_main(["resume", str(written[-1]), "-o", str(folder / "resumed.h5"), "--quiet"]) != 0:
        raise SystemExit(f"{folder}: the resume failed")


if __name__ == "__main__":
    if sys.argv[1] == "--cases":
        with open(sys.argv[2]) as cases:
            for case_folder, case_exchange, case_rank, case_job, case_full in json.load(cases):
                run_case(Path(case_folder), int(case_exchange), int(case_rank), case_job, bool(case_full))
    else:
        run_case(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:])
