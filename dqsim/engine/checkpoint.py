"""Checkpoints of engine runs: the whole engine state at a window boundary.

A checkpoint is taken at a window boundary, when no message is in flight and
every pending quantum operation has been applied. It stores

* the state vector (one slab per rank, in logical order, with per-slab
  checksums — :mod:`dqsim.io`), the random-stream counters and last-touch
  times of the quantum memory;
* per node, one pickled record with a SHA-256: the event queue (messages
  in flight to the node included), mailbox, waiting and blocked processes,
  clock and counters, random streams, ``node_data``, unflushed quantum
  operations, timeline entries and the live processes — resumable ones with
  their protocol state, plain generators as function, arguments and step log
  (:mod:`dqsim.engine.process`);
* a shared record: pending quantum operations, statistics and
  engine counts so far (per-rank counts summed);
* the results of the scenario's engine runs that had finished (a sweep runs
  several), so a resumed sweep does not redo them;
* the simulated time of the boundary, the job text and its hash, the dqsim
  version, ranks, backend and precision.

Resuming rebuilds the run from the stored job text, loads on each rank the
records of the nodes placed there (any power-of-two number of ranks: the
state is re-sliced and nodes re-placed; windows have the length of the
smallest link latency whatever the placement, so the boundary exists for any
rank count), re-executes plain processes from their logs with every effect
muted, and goes on from the boundary. No state-vector work and no
resumable process's work is redone; plain processes redo their own
classical steps only.

Checkpoints are written under a temporary name, verified, renamed; older ones
beyond ``keep`` are deleted only after the new one is complete. SIGUSR1 or
SIGTERM asks for a checkpoint at the next boundary, after which the run stops
with :data:`EXIT_CHECKPOINTED`. Checkpoint files contain Python pickles:
resume only checkpoints you (or your collaborators) wrote.
"""

from __future__ import annotations

import hashlib
import io as _bytes_io
import os
import pickle
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import dqsim
from dqsim import io
from dqsim.errors import DqsimError
from dqsim.units import PS_PER_S

#: Exit status of a run that stopped after writing a checkpoint (EX_TEMPFAIL).
EXIT_CHECKPOINTED = 75

_STOP = {"requested": False}


def request_stop(signum=None, frame=None) -> None:
    """Signal handler: checkpoint at the next window boundary, then stop."""
    _STOP["requested"] = True


def install_signal_handlers() -> None:
    """Make SIGUSR1 and SIGTERM request a checkpoint-and-stop (call once per process)."""
    for sig in (signal.SIGUSR1, signal.SIGTERM):
        signal.signal(sig, request_stop)


def stop_requested() -> bool:
    return _STOP["requested"]


def job_hash(job_text: str) -> str:
    """SHA-256 of a job file's text (identifies the job a checkpoint belongs to)."""
    return hashlib.sha256(job_text.encode()).hexdigest()


class CheckpointStop(Exception):
    """Raised on every rank after the checkpoint a stop request asked for was written."""

    def __init__(self, path: Path):
        super().__init__(f"stopped after writing checkpoint {path}")
        self.path = path


@dataclass
class Resume:
    """What a resumed run needs from its checkpoint (identical on every rank)."""

    path: Path
    engine_run: int
    window_end_ps: int
    streams: dict
    last_touch_ps: list
    has_state: bool
    shared: bytes | None = None
    num_ranks: int = 0
    num_amplitudes: int = 0
    record_checksums: dict = field(default_factory=dict)
    results: dict = field(default_factory=dict)


@dataclass
class CheckpointSession:
    """Checkpoint settings and bookkeeping of one ``dqsim run`` / ``dqsim resume``.

    Args:
        directory: where checkpoints go.
        prefix: file name prefix (the job name).
        job_text: the job file's text (stored, and hashed to check a resume).
        meta: attributes stored with every checkpoint (scenario, backend, ...).
        every_wall_s / every_sim_s: triggers (``None``: off).
        keep: checkpoints kept.
        resume: set when resuming.
    """

    directory: Path
    prefix: str
    job_text: str
    meta: dict
    every_wall_s: float | None = None
    every_sim_s: float | None = None
    keep: int = 2
    resume: Resume | None = None
    engine_runs: int = 0
    written: list = field(default_factory=list)
    results: dict = field(default_factory=dict)
    last_wall: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.resume is not None:
            self.results = dict(self.resume.results)

    def stored_next(self, default=None):
        """The stored result of the next engine run, if it had finished before the resumed checkpoint.

        A scenario that runs the engine several times (a sweep, a series of
        time points, a queue of user jobs) calls this before each run: when
        it returns a result, the run's index is used up and the scenario
        skips the run; otherwise it returns ``default`` and the scenario runs
        it and hands a picklable summary to :meth:`store_last`.
        """
        index = self.engine_runs
        if self.resume is not None and index < self.resume.engine_run and index in self.results:
            self.engine_runs += 1
            return self.results[index]
        return default

    def store_last(self, result) -> None:
        """Keep the summary of the engine run that just finished; later checkpoints save it."""
        if self.engine_runs:
            self.results[self.engine_runs - 1] = result

    def next_engine_run(self) -> int:
        """Index of the engine run about to start (scenarios may run several, e.g. a sweep)."""
        index = self.engine_runs
        self.engine_runs += 1
        return index


class Checkpointer:
    """Decides, writes and restores checkpoints for one :class:`Simulator` run."""

    def __init__(self, session: CheckpointSession, comm, engine_run: int):
        self.session = session
        self.comm = comm
        self.engine_run = engine_run
        every = session.every_sim_s
        self.every_sim_ps = int(round(every * PS_PER_S)) if every else None
        self.next_sim_ps = self.every_sim_ps

    @property
    def resuming(self) -> Resume | None:
        """The resume data if this engine run is the one the checkpoint interrupted."""
        resume = self.session.resume
        if resume is not None and resume.engine_run == self.engine_run:
            return resume
        return None

    def due(self, window_end_ps: float) -> tuple[bool, bool]:
        """Collective: ``(write, stop)`` at this window boundary."""
        wall = bool(self.session.every_wall_s) and time.monotonic() - self.session.last_wall >= self.session.every_wall_s
        flags = self.comm.allreduce_max(np.array([int(wall), int(stop_requested())], dtype=np.int64))
        sim = False
        if self.next_sim_ps is not None and window_end_ps >= self.next_sim_ps:
            sim = True
            while self.next_sim_ps <= window_end_ps:
                self.next_sim_ps += self.every_sim_ps
        if self.session.resume is not None and self.engine_run < self.session.resume.engine_run:
            return False, False  # runs before the interrupted one are being recomputed
        return bool(flags[0]) or sim or bool(flags[1]), bool(flags[1])

    def write(self, sim, window_end_ps: int) -> Path:
        """Collective: write a checkpoint of ``sim`` at this boundary; returns its path."""
        session, comm = self.session, self.comm
        directory = Path(session.directory)
        if comm.rank == 0:
            directory.mkdir(parents=True, exist_ok=True)
        comm.barrier()
        base = directory / f"{session.prefix}.ckpt{self.engine_run:03d}-{window_end_ps:020d}"
        state = sim.state
        state_kwargs = {}
        layout = list(state.layout.physical_of) if state is not None else None
        if state is not None:  # every rank: one collective file with parallel HDF5, else one slab file each
            state_kwargs = io.write_sharded_state(base, state.logical_slab_pieces(), comm=comm,
                                                  slab_size=1 << state.num_local_qubits, dtype=state.dtype)
        path = base.with_name(base.name + ".h5")
        mine = _collectively(comm, lambda: [(node.index, _pickle(sim.node_snapshot(node.index), sim))
                                            for node in sim.local])
        node_records = comm.gather(mine)
        shared = sim.global_snapshot()
        if state is not None:  # writing made the layout canonical: the run goes on with its own layout
            shared["register_layout"] = layout
            state.relayout_(layout)
        if comm.rank == 0:
            memory = sim.memory
            tables = {
                "streams": np.array([(node, purpose, stream.event) for (node, purpose), stream
                                     in sorted(memory.streams.items())],
                                    dtype=[("node", "i8"), ("purpose", "U64"), ("event", "i8")]),
                "last_touch": np.asarray(shared["memory"]["last_touch_ps"], dtype=np.int64),
            }
            records = dict(item for part in node_records for item in part)
            blobs = {"engine/results": pickle.dumps(session.results, protocol=pickle.HIGHEST_PROTOCOL),
                     "engine/shared": _pickle(shared, sim),
                     **{f"engine/node{i:06d}": records[i] for i in range(len(sim.nodes))}}
            for name, blob in blobs.items():
                tables[name] = np.frombuffer(blob, dtype=np.uint8)
            attrs = {**session.meta, "checkpoint": True, "job_text": session.job_text,
                     "job_sha256": job_hash(session.job_text), "num_ranks": comm.size,
                     "engine_run": self.engine_run, "window_end_ps": int(window_end_ps),
                     "num_windows": sim.stats.num_windows, "has_state": state is not None,
                     "num_nodes": len(sim.nodes), "record_names": list(blobs),
                     "record_sha256": [_sha(blob) for blob in blobs.values()]}
            io.write_run_file(path, attrs=attrs, tables=tables, **state_kwargs)
            if state_kwargs:  # every rank has read its part back and checked it
                io.open_run(path).check_state_files()
        comm.barrier()
        session.written.append(path)
        session.last_wall = time.monotonic()
        if comm.rank == 0:
            while len(session.written) > session.keep:
                _delete_checkpoint(session.written.pop(0))
        comm.barrier()
        return path

    def restore(self, sim) -> int:
        """Collective: load the checkpoint into ``sim``; returns the boundary's time (ps)."""
        resume = self.resuming
        state = sim.state
        if state is not None and resume.has_state:  # the register grew by scratch bits before the checkpoint
            while (1 << state.num_qubits) < resume.num_amplitudes:
                state.add_qubit_()
        if state is not None and resume.has_state and resume.num_amplitudes != 1 << state.num_qubits:
            raise DqsimError(f"{resume.path}: its register has {resume.num_amplitudes.bit_length() - 1} qubits, "
                             f"this run's {state.num_qubits} (small registers are padded with idle qubits to give "
                             f"every rank local qubits); resume with {resume.num_ranks} ranks")
        run = _collectively(self.comm, lambda: io.open_run(resume.path))
        shared = _unpickle(resume.shared, sim)
        nodes = _collectively(self.comm, lambda: {
            node.index: _unpickle(_read_record(run, f"engine/node{node.index:06d}", resume), sim)
            for node in sim.local})
        sim.load_snapshot(nodes, shared)
        if self.every_sim_ps is not None:
            while self.next_sim_ps <= resume.window_end_ps:
                self.next_sim_ps += self.every_sim_ps
        memory = sim.memory
        for (node, purpose), event in resume.streams.items():
            memory.stream(node, purpose).event = event
        memory.last_touch_ps = list(resume.last_touch_ps)
        if state is not None and resume.has_state:
            size = 1 << state.num_local_qubits
            start = self.comm.rank * size
            state.layout.physical_of = list(range(state.num_qubits))

            def load() -> None:  # each rank checks the checksums of the slabs it reads
                for offset, piece in run.state_pieces(start, start + size, verify=True):
                    state.amplitudes[offset:offset + piece.size] = state.xp.asarray(piece, dtype=state.dtype)

            _collectively(self.comm, load)
            layout = shared.get("register_layout")
            if layout is not None and resume.num_ranks == self.comm.size and len(layout) == state.num_qubits:
                state.relayout_(layout)  # the same layout as the run had: bit-identical from here on
        return resume.window_end_ps


def _collectively(comm, read):
    """Run ``read()`` on every rank; if it fails on any, raise that rank's one-line error on all."""
    result, error = None, None
    try:
        result = read()
    except DqsimError as exc:
        error = str(exc)
    except (KeyError, ValueError, OSError, pickle.UnpicklingError, EOFError) as exc:
        error = f"the checkpoint cannot be read ({exc})"
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise DqsimError(errors[0])
    return result


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(run, name: str, resume: Resume) -> bytes:
    """Read one pickled record of a checkpoint and check its SHA-256."""
    data = run.table(name).tobytes()
    if _sha(data) != resume.record_checksums.get(name):
        raise DqsimError(f"{resume.path}: the record {name!r} is corrupt (checksum mismatch)")
    return data


class _Pickler(pickle.Pickler):
    """Pickles objects the scenario shared with the simulator (``Simulator.share``) by reference."""

    def __init__(self, file, shared: list):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._shared = {id(obj): i for i, obj in enumerate(shared)}

    def persistent_id(self, obj):
        index = self._shared.get(id(obj))
        return ("shared", index) if index is not None else None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, shared: list):
        super().__init__(file)
        self._shared = shared

    def persistent_load(self, pid):
        kind, index = pid
        if kind != "shared" or not 0 <= index < len(self._shared):
            raise pickle.UnpicklingError(f"shared object {pid} is unknown to this run")
        return self._shared[index]


def _pickle(obj, sim) -> bytes:
    buffer = _bytes_io.BytesIO()
    try:
        _Pickler(buffer, sim.shared_objects).dump(obj)
    except (TypeError, AttributeError, pickle.PicklingError) as exc:
        raise DqsimError(f"cannot write a checkpoint: a process or its data cannot be saved ({exc}); "
                         "give processes module-level functions and picklable arguments, or share() them") from None
    return buffer.getvalue()


def _unpickle(data: bytes, sim):
    return _Unpickler(_bytes_io.BytesIO(data), sim.shared_objects).load()


def _delete_checkpoint(path: Path) -> None:
    try:
        run = io.open_run(path)
        slab_files = (run.state_info or {}).get("attrs", {}).get("slab_files", []) if run.state_info else []
    except DqsimError:
        slab_files = []
    for name in slab_files:
        try:
            os.remove(Path(path).parent / name)
        except OSError:
            pass
    for leftover in Path(path).parent.glob(Path(path).stem + ".slab*.h5"):
        try:
            os.remove(leftover)
        except OSError:
            pass
    try:
        os.remove(path)
    except OSError:
        pass


def read_checkpoint(path, comm) -> tuple[dict, Resume]:
    """Collective: open a checkpoint (rank 0 reads and checks, everyone gets the result).

    Returns:
        ``(attrs, resume)``.

    Raises:
        DqsimError: not a dqsim checkpoint, another schema version (by
            :func:`dqsim.io.open_run`), truncated, a missing or corrupt slab.
    """
    payload = None
    error = None
    if comm.rank == 0:
        try:
            run = io.open_run(path)
            attrs = run.attrs
            if not attrs.get("checkpoint"):
                raise DqsimError(f"{path}: not a dqsim checkpoint (written by 'dqsim run' with checkpoints)")
            if attrs.get("dqsim_version") != dqsim.__version__:
                raise DqsimError(f"{path}: written by dqsim {attrs.get('dqsim_version')}, this is dqsim "
                                 f"{dqsim.__version__}; resume it with that version")
            if job_hash(attrs["job_text"]) != attrs.get("job_sha256"):
                raise DqsimError(f"{path}: the stored job text does not match its hash; the file is damaged")
            if attrs.get("has_state"):
                run.check_state_files()  # every slab there; each rank checks its checksums when it reads
            streams = {(int(r["node"]), str(r["purpose"])): int(r["event"]) for r in run.table("streams")}
            last_touch = [int(v) for v in run.table("last_touch")]
            resume = Resume(Path(path), int(attrs["engine_run"]), int(attrs["window_end_ps"]), streams,
                            last_touch, bool(attrs.get("has_state")),
                            record_checksums=dict(zip(attrs["record_names"], attrs["record_sha256"])),
                            num_ranks=int(attrs["num_ranks"]),
                            num_amplitudes=int(run.state_info["shape"][0]) if attrs.get("has_state") else 0)
            resume.results = pickle.loads(_read_record(run, "engine/results", resume))
            resume.shared = _read_record(run, "engine/shared", resume)  # unpickled by each rank's run
            payload = (attrs, resume)
        except DqsimError as exc:
            error = str(exc)
        except (KeyError, ValueError, OSError, pickle.UnpicklingError, EOFError) as exc:
            error = f"{path}: not a complete dqsim checkpoint ({exc})"
    error = comm.bcast(error)
    if error:
        raise DqsimError(error)
    return comm.bcast(payload)
