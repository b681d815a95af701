"""The ``dqsim`` command line's parser, and the module holding each command: no command's imports.

``dqsim --version``, ``--help`` (of dqsim or of a command) and a usage error
are answered here, before any command's module is imported, so they cost
what argparse costs (NumPy, numba, h5py, mpi4py and the scenarios take a
second or more of CPU to import). :func:`handler` then imports only the
module of the command that runs (``dqsim examples`` needs none of them).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
from typing import Callable

import dqsim
from dqsim.cli.examples import DEFAULT_DIR

#: Each command's handler, ``module:function`` (the function takes the parsed arguments, returns the exit status).
HANDLERS = {
    "run": "dqsim.cli.main:cmd_run",
    "resume": "dqsim.cli.main:cmd_resume",
    "check": "dqsim.cli.check:cmd_check",
    "warmup": "dqsim.cli.warmup:cmd_warmup",
    "examples": "dqsim.cli.examples:cmd_examples",
    "clean": "dqsim.cli.clean:cmd_clean",
    "inspect": "dqsim.cli.files:cmd_inspect",
    "plot": "dqsim.cli.files:cmd_plot",
    "merge": "dqsim.cli.merge:cmd_merge",
}


#: ``dqsim --help``'s first line: plain text (the module docstring's first line is reStructuredText).
DESCRIPTION = ("Simulate distributed quantum computing over optical networks: check, run and resume a TOML job "
               "file, clean its checkpoints; inspect, plot and merge the HDF5 files it writes.")


class DqsimParser(argparse.ArgumentParser):
    """An argparse parser whose unrecognized options are reported by the command they were given to: its usage,
    and the closest of its options (``dqsim run --output-file``: "did you mean --output?"). Before 2026-12-07 (late
    night) argparse printed the top-level usage and no hint (userwalk3 D7)."""

    def parse_args(self, args=None, namespace=None):  # noqa: D102 (argparse's)
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self._commands().get(getattr(parsed, "command", None), self)
            command.error(f"unrecognized arguments: {' '.join(extras)}{closest_option(command, extras)}")
        return parsed

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        """Each command's parser, by name (``{}`` for a parser without commands)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001 (argparse keeps them there)
                return dict(action.choices)
        return {}


def closest_option(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """`` (did you mean --output?)`` for the first of ``extras`` that is an option close to one of ``parser``'s
    (:func:`difflib.get_close_matches`), else ``""``.

    Examples:
        >>> run = build_parser()._commands()["run"]
        >>> closest_option(run, ["--output-file", "x.h5"])
        ' (did you mean --output?)'
        >>> closest_option(run, ["x.h5"])
        ''
    """
    known = [option for action in parser._actions for option in action.option_strings if option.startswith("--")]
    for extra in extras:
        if extra.startswith("--"):
            found = difflib.get_close_matches(extra.split("=", 1)[0], known, n=1, cutoff=0.6)
            if found:
                return f" (did you mean {found[0]}?)"
    return ""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line: ``args.command`` names the command (a key of :data:`HANDLERS`)."""
    parser = DqsimParser(prog="dqsim", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"dqsim {dqsim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job file (under mpiexec/srun for several ranks)")
    run.add_argument("job", help="TOML job file, e.g. jobs/quickstart.toml")
    run.add_argument("--output", "-o", help="output HDF5 file (default: [run].output of the job)")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a job value, e.g. --set simulation.shots=100 (repeatable)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress (bar or lines) and no summary")
    run.add_argument("--skip-finished", action="store_true",
                     help="do not run the job when its output already holds its finished results (whole as its "
                          "manifest lists it, of this job's configuration): one line, exit 0 (as a SLURM requeue)")
    run.add_argument("--stop-if-edited", action="store_true",
                     help="stop (exit 2, one line) instead of starting from the start where the checkpoint folder "
                          "holds an unfinished run of this job written when a file it reads (a QASM circuit) had "
                          "other contents: a requeued SLURM job (slurm/run_step.sh passes it on a restart)")
    run.add_argument("--start-over", action="store_true",
                     help="run from the start even where the checkpoint folder holds an unfinished run's "
                          "checkpoints of this job (without it dqsim run refuses, naming the checkpoint to dqsim "
                          "resume); this run removes them at its first checkpoint")
    resume = sub.add_parser("resume", help="continue a run from a checkpoint (any power-of-two rank count)")
    resume.add_argument("checkpoint", help="a checkpoint file, e.g. checkpoints/NAME.HHHHHHHH.ckpt000-....h5")
    resume.add_argument("--output", "-o", help="output HDF5 file (default: the job's)")
    resume.add_argument("--quiet", "-q", action="store_true", help="no progress (bar or lines) and no summary")
    resume.add_argument("--job-folder", metavar="DIR",
                        help="the folder that now holds the job file (a project moved without its checkpoint "
                             "folder): the files the job reads are read there, at their places in the job's old "
                             "folder, checked against the SHA-256 the checkpoint recorded")
    resume.add_argument("--fall-back", action="store_true",
                        help="if the checkpoint is refused (damaged, truncated, incomplete), resume the newest older "
                             "checkpoint of the job in its folder that is not (as the SLURM scripts do)")
    check = sub.add_parser("check", help="validate a job without running it: the resolved job, memory, work")
    check.add_argument("job", help="TOML job file, e.g. jobs/quickstart.toml")
    check.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a job value, as for dqsim run (repeatable)")
    check.add_argument("--output", "-o", help="output HDF5 file, as for dqsim run (default: [run].output of the job)")
    check.add_argument("-n", "--num-ranks", type=int, default=1, metavar="RANKS",
                       help="the number of MPI ranks to plan for (default 1)")
    check.add_argument("--no-time", action="store_true",
                       help="skip the wall-time estimate (a pilot of the job, about a second, on this machine)")
    clean = sub.add_parser(
        "clean", help="remove the checkpoints finished runs left: a job's (JOB, with the run's --set) or a "
                      "folder's (--checkpoints DIR)",
        description="Remove the checkpoints that finished runs left. A checkpoint goes when its run finished: "
                    "an output its run's checkpoints name is whole and records the run's id; a stopped or later "
                    "run's stay (dqsim resume goes on from the newest) unless --all. Checkpoints written before "
                    "run ids (2026-12-06) name no output: with JOB they are paired with the job's output by "
                    "modification time, with --checkpoints they stay. Incomplete ones (no manifest) always go. "
                    "With JOB, the job's checkpoints written when a file it reads (a QASM circuit) had other "
                    "contents are listed too (input FILE edited since): a finished run's go, the others stay "
                    "unless --edited.")
    clean.add_argument("job", nargs="?", help="TOML job file, e.g. jobs/quickstart.toml: its checkpoints in its "
                                              "[checkpoint].directory")
    clean.add_argument("--checkpoints", metavar="DIR",
                       help="instead of JOB: every job's checkpoints in this folder, each paired with the output "
                            "its manifest names")
    clean.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a job value, as the run had it (repeatable)")
    clean.add_argument("--output", "-o", help="the run's output file, as dqsim run -o (default: [run].output); "
                                              "used only for checkpoints written before run ids")
    clean.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    clean.add_argument("--all", action="store_true",
                       help="remove every checkpoint of the job, also those an unfinished run would resume from "
                            "(those of the files the job reads as they are now; --edited: of their other contents)")
    clean.add_argument("--edited", action="store_true",
                       help="with JOB: also remove the job's checkpoints written when a file it reads had other "
                            "contents (an input edited in place since), finished or not; never those of its files "
                            "as they are now")
    clean.add_argument("--other-configs", action="store_true",
                       help="with JOB: also remove the checkpoints of its [run].name under another configuration (the "
                            "job or its --set edited since they were written) of finished runs, with --all also of "
                            "unfinished ones (their only way to resume); none another run is using")
    warm = sub.add_parser("warmup", help="compile the CPU kernels into numba's cache once, before the ranks of a "
                                         "first job each compile them (on the kind of node the ranks run on); "
                                         "build a QKD job's LDPC codes into dqsim's cache")
    warm.add_argument("job", nargs="*", help="job files whose kernels to compile and LDPC codes to build "
                                             "(default: every kernel)")
    warm.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a value of each job, as for dqsim run (repeatable)")
    warm.add_argument("--kernels", nargs="+", metavar="GROUP",
                      help="groups of kernels to compile as well: state-complex128, state-complex64, qkd")
    examples = sub.add_parser("examples", help="copy the example job files into a folder")
    examples.add_argument("dir", nargs="?", default=DEFAULT_DIR,
                          help=f"where to copy them (default ./{DEFAULT_DIR})")
    inspect = sub.add_parser("inspect", help="summarise an output HDF5 file")
    inspect.add_argument("file", help="a file written by dqsim run")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.add_argument("--table", metavar="NAME", help="print every row of one table (with its units)")
    inspect.add_argument("--csv", action="store_true", help="with --table: print the table as CSV")
    inspect.add_argument("--no-verify", action="store_true",
                         help="skip checking the file against its manifest (sizes and SHA-256), or, without one, "
                              "walking it in a separate process first: read it as it is")
    plot = sub.add_parser("plot", help="draw an output file (key rate vs distance, counts, ...) as a PNG")
    plot.add_argument("file", help="a file written by dqsim run")
    plot.add_argument("--output", "-o", help="image file (default: FILE with .png)")
    plot.add_argument("--no-verify", action="store_true",
                      help="skip checking the file against its manifest (sizes and SHA-256), or, without one, "
                           "walking it in a separate process first: read it as it is")
    merge = sub.add_parser("merge", help="combine the run files of a sweep (one per task) into one file")
    merge.add_argument("output", help="the merged HDF5 file to write, e.g. out/sweep/merged.h5")
    merge.add_argument("inputs", nargs="+", metavar="input",
                       help="run files in task order (task i is the i-th), or quoted glob patterns such as "
                            "'out/sweep/task-*.h5' (expanded in natural order: task-2 before task-10)")
    merge.add_argument("--allow-missing", action="store_true",
                       help="merge the inputs that exist, list the others (failed tasks) and exit 1")
    merge.add_argument("--force", action="store_true",
                       help="replace the output also where it exists and is no earlier merge (a run's file); "
                            "an earlier merge's output is replaced without it")
    merge.add_argument("--no-verify", action="store_true",
                       help="skip checking the inputs against their manifests (sizes and SHA-256), or, without one, "
                            "walking them in a separate process first: read them as they are")
    return parser


def handler(command: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs ``command`` (a key of :data:`HANDLERS`), importing its module (and only it)."""
    module, function = HANDLERS[command].split(":")
    return getattr(importlib.import_module(module), function)
