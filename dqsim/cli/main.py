"""The ``dqsim`` command: ``run`` a job file, ``inspect`` an output file.

Errors in the input (job file, QASM, sizes) print one line, ``dqsim: error:
…``, and exit with status 2, without a traceback. Under MPI every rank reads
the job the same way, so they all stop together; an error that happens on
some ranks only, during the run, ends the whole job through ``MPI_Abort``
after printing it once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

import numpy as np

import dqsim
from dqsim import backend as backend_mod
from dqsim import comm as comm_mod
from dqsim import io
from dqsim import jobs
from dqsim.errors import DqsimError
from dqsim.scenarios import circuit_run

#: Exit status for bad input (job file, arguments, sizes).
EXIT_BAD_INPUT = 2
#: Exit status for an unexpected internal error.
EXIT_INTERNAL = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dqsim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"dqsim {dqsim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a job file (under mpiexec/srun for several ranks)")
    run.add_argument("job", help="TOML job file, e.g. jobs/quickstart.toml")
    run.add_argument("--output", "-o", help="output HDF5 file (default: [run].output of the job)")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a job value, e.g. --set simulation.shots=100 (repeatable)")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    run.set_defaults(handler=cmd_run)
    inspect = sub.add_parser("inspect", help="summarise an output HDF5 file")
    inspect.add_argument("file", help="a file written by dqsim run")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(handler=cmd_inspect)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dqsim`` console script and ``python -m dqsim``."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


def _error(message: str) -> None:
    print(f"dqsim: error: {message}", file=sys.stderr, flush=True)


def cmd_inspect(args) -> int:
    try:
        run = io.open_run(args.file)
        summary = io.summarize(run)
    except DqsimError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
    else:
        print(io.format_summary(summary))
    return 0


def cmd_run(args) -> int:
    comm = comm_mod.init()
    try:
        job = jobs.load_job(args.job)
        overrides = list(args.set)
        if args.output:
            overrides.append(f"run.output={json.dumps(args.output)}")
        if overrides:
            job = jobs.apply_overrides(job, overrides)
    except DqsimError as exc:
        if comm.rank == 0:  # every rank read the same file and failed the same way
            _error(str(exc))
        return EXIT_BAD_INPUT
    try:
        return _run(job, comm, quiet=args.quiet)
    except DqsimError as exc:
        return _fail(comm, str(exc), EXIT_BAD_INPUT)
    except Exception:  # noqa: BLE001 - print, then end every rank
        return _fail(comm, traceback.format_exc().rstrip(), EXIT_INTERNAL, prefix="internal error")


def _fail(comm, message: str, code: int, prefix: str = "error") -> int:
    """Print once and end the job; rank 0 speaks first, others wait a moment for its abort."""
    if comm.size == 1:
        print(f"dqsim: {prefix}: {message}", file=sys.stderr, flush=True)
        return code
    if comm.rank != 0:
        time.sleep(1.0)  # if rank 0 failed too, its abort ends us before we print
        print(f"dqsim: {prefix} on rank {comm.rank}: {message}", file=sys.stderr, flush=True)
    else:
        print(f"dqsim: {prefix}: {message}", file=sys.stderr, flush=True)
    comm.abort(code)
    return code


def _progress(comm, enabled: bool):
    """A progress callback drawing a bar on rank 0 when stdout is a terminal."""
    if comm.rank != 0 or not enabled or not sys.stdout.isatty():
        return None, None
    from rich.progress import Progress  # noqa: PLC0415

    bar = Progress(transient=True)
    task = bar.add_task("gates", total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def _run(job, comm, *, quiet: bool) -> int:
    started = time.perf_counter()
    backend = backend_mod.select(job.run.backend, node_local_rank=comm.node_local_rank)
    bar, update = _progress(comm, not quiet)
    if bar is not None:
        bar.start()
    try:
        result = circuit_run.run_circuit_job(job, comm=comm, backend=backend, on_progress=update)
    finally:
        if bar is not None:
            bar.stop()
    output = Path(job.run.output)
    attrs = _attributes(job, comm, backend, result)
    write_started = time.perf_counter()
    state_kwargs = _state_for_output(job, comm, result, output)
    result.timing_s["write"] = time.perf_counter() - write_started
    attrs["wall_time_s"] = time.perf_counter() - started
    if comm.rank == 0:
        output.parent.mkdir(parents=True, exist_ok=True)
        io.write_run_file(output, attrs=attrs, tables=_tables(job, result),
                          groups_attrs={"timing": {"units": "seconds"}}, **state_kwargs)
        if not quiet:
            print(_summary_text(job, result, attrs, output))
    comm.barrier()
    return 0


def _attributes(job, comm, backend, result) -> dict:
    circuit = result.circuit
    exchanged = comm.allgather(result.state.bytes_exchanged)
    return {
        "scenario": "circuit",
        "job_name": job.run.name,
        "job_text": job.text,
        "job_path": str(job.path) if job.path else "",
        "seed": job.run.seed,
        "num_ranks": comm.size,
        "backend": backend.name,
        "device": backend.kernel_name(),
        "compiled_kernels": backend.fast.name if backend.fast is not None else "none",
        "precision": job.run.precision,
        "circuit_name": circuit.name,
        "num_qubits": circuit.num_qubits,
        "num_clbits": circuit.num_clbits,
        "num_gates": len(circuit.gates()),
        "shots": job.simulation.shots,
        "sampling": result.sampling,
        "num_exchanges": result.state.num_exchanges,
        "bytes_exchanged_per_rank": np.array(exchanged, dtype=np.int64),
    }


def _tables(job, result) -> dict:
    width = max([len(b) for b in result.counts] or [1])
    counts = np.array(list(result.counts.items()), dtype=[("bitstring", f"U{width}"), ("count", "i8")])
    tables = {"counts": counts}
    if result.expectation:
        longest = max(len(text) for _, text, _ in result.expectation)
        tables["expectation"] = np.array(result.expectation, dtype=[
            ("name", "U16"), ("observable", f"U{longest}"), ("value", "f8")])
    gate_counts = result.circuit.count_gates()
    if gate_counts:
        tables["gate_counts"] = np.array(list(gate_counts.items()), dtype=[("gate", "U16"), ("count", "i8")])
    tables["timing"] = np.array(list(result.timing_s.items()), dtype=[("stage", "U16"), ("seconds", "f8")])
    if job.simulation.store_shots:
        tables["shots"] = result.shots
    return tables


def _state_for_output(job, comm, result, output: Path) -> dict:
    """Collective: gather the final state, or write per-rank slabs, when ``save_state``."""
    if not job.simulation.save_state:
        return {}
    state = result.state
    if state.num_qubits <= job.simulation.max_gather_qubits:
        vector = state.gather()
        return {"state": vector} if comm.rank == 0 else {}
    slab = output.with_name(f"{output.stem}.slab{comm.rank:04d}.h5")
    slab.parent.mkdir(parents=True, exist_ok=True)
    size = 1 << state.num_local_qubits
    checksum = io.write_state_slab(slab, state.logical_slab_pieces(), slab_size=size, dtype=state.dtype)
    entries = comm.gather((str(slab), checksum))
    if comm.rank != 0:
        return {}
    paths, sums = zip(*entries)
    return {"state_slabs": io.StateSlabs(list(paths), list(sums), size, state.dtype)}


def _summary_text(job, result, attrs, output: Path) -> str:
    circuit = result.circuit
    gates = ", ".join(f"{k}: {v}" for k, v in list(circuit.count_gates().items())[:8])
    lines = [
        f"dqsim run {job.run.name}: {circuit.num_qubits} qubits on {attrs['num_ranks']} rank(s), "
        f"{attrs['device']}, {job.run.precision}",
        f"  {attrs['num_gates']} gates ({gates}); {result.sampling} sampling, {job.simulation.shots} shots",
    ]
    top = list(result.counts.items())[:4]
    if top:
        lines.append("  top counts: " + ", ".join(f"{b}: {c}" for b, c in top))
    for _name, text, value in result.expectation:
        lines.append(f"  <{text}> = {value:.6f}")
    stages = ", ".join(f"{k} {v:.3f} s" for k, v in result.timing_s.items())
    lines.append(f"  time: {stages}; total {attrs['wall_time_s']:.3f} s")
    lines.append(f"  wrote {output}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
