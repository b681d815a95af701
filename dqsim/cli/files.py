"""``dqsim inspect FILE`` and ``dqsim plot FILE``: the commands on the files a run writes.

Apart from :mod:`dqsim.cli.main` (the run's commands), so that they import
the HDF5 reader and the checkpoint verifier, not the scenarios, the jobs or
the MPI launch (:mod:`dqsim.cli.parser`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dqsim import io
from dqsim.cli import print_error
from dqsim.cli.plot import plot_run
from dqsim.engine import checkpoint
from dqsim.errors import DqsimError
from dqsim.io import manifest
from dqsim.io.probe import probe_unverified

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2


def _verify_run_file(path: Path, skip: bool, command: str) -> bool:
    """Check a run file against its manifest before HDF5 parses it; False when it has none (the caller notes
    it with :func:`_note_unverified` once the file opened: a file that is no run file at all gets one line).
    One without a manifest is walked by HDF5 in a child process first (:func:`dqsim.io.probe.probe_unverified`,
    since 2026-12-07 (late night)): damage that crashes HDF5 there is refused in one line, naming ``command``'s
    ``--no-verify``. ``skip`` (``--no-verify``): neither."""
    if skip or not path.is_file():  # a missing file: open_run says so in one line
        return True
    if io.verify_run_file(path):
        return True
    probe_unverified(path, command=command)
    return False


def _identity(path: Path) -> dict:
    """The identity that the manifest of the run file ``path`` records: a run's
    (:data:`dqsim.io.manifest.RUN_IDENTITY_KEYS`) or a merge's (:data:`dqsim.io.manifest.MERGE_IDENTITY_KEYS`);
    ``{}`` where it has no manifest (or, with ``--no-verify``, a damaged one) or the manifest records none (written
    before 2026-12-06)."""
    try:
        body = manifest.read_manifest(manifest.run_manifest_path(path), kind="run")
    except DqsimError:
        return {}
    keys = manifest.MERGE_IDENTITY_KEYS if "merged_from" in body else manifest.RUN_IDENTITY_KEYS
    return {key: body[key] for key in keys if key in body}


def _note_unverified(path: Path) -> None:
    print(f"dqsim: note: {path} has no manifest ({path.name}.manifest.json): not verified", file=sys.stderr)


def cmd_inspect(args) -> int:
    if args.csv and not args.table:
        print_error("--csv prints one table: give --table NAME too")
        return EXIT_BAD_INPUT
    path = Path(args.file)
    try:
        verified = True
        if checkpoint.looks_like_checkpoint(path) or checkpoint.manifest_path(path).exists():
            checkpoint.verify_checkpoint(path)  # every byte, before HDF5 parses any
        else:
            verified = _verify_run_file(path, args.no_verify, "inspect")
        run = io.open_run(path)
        if not verified:
            _note_unverified(path)
        if args.table and args.csv:
            io.table_csv(run, args.table, sys.stdout)
            return 0
        if args.table:
            print(io.format_table(run, args.table))
            return 0
        summary = io.summarize(run)
        identity = _identity(path)
        if identity:
            summary["identity"] = identity
    except DqsimError as exc:
        print_error(str(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # piped into a program that stopped reading (head): main() handles it
        raise
    except (OSError, RuntimeError, KeyError, ValueError, TypeError, RecursionError) as exc:
        print_error(f"{path}: damaged or not a dqsim file ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(io.format_summary(summary))
    return 0


def cmd_plot(args) -> int:
    output = Path(args.output) if args.output else Path(args.file).with_suffix(".png")
    try:
        unchecked = getattr(args, "no_verify", False)
        verified = _verify_run_file(Path(args.file), unchecked, "plot")
        run = io.open_run(args.file)
        if not verified:
            _note_unverified(Path(args.file))
        if unchecked:
            print(f"dqsim: note: --no-verify: {args.file} was read unchecked (not against its manifest, not walked "
                  "in a separate process first)", file=sys.stderr)
        drawn = plot_run(run, output)
    except DqsimError as exc:
        print_error(str(exc))
        return EXIT_BAD_INPUT
    print(f"wrote {output} ({drawn})")
    return 0
