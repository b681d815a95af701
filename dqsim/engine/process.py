"""Processes the engine runs, and how a checkpoint saves them.

A *plain* process is a generator ``process_fn(ctx, *args)``. A generator's
local variables cannot be saved, so when a run may be checkpointed the engine
logs, for each live plain process, every value it was resumed with (a
message, measurement outcomes, ``None`` after a wait), the time of each
resume, and every result of :meth:`NodeContext.record` and random-stream
event it used during that step. A checkpoint saves ``process_fn`` (by name),
its arguments and the log; a resumed run calls ``process_fn`` again and feeds
it the logged values with all its effects muted (no message, operation, log
entry or count is made again), which brings the new generator to the
``yield`` the old one was suspended at. This needs processes that touch the
world only through their ``ctx``: node-wide mutable data lives in
``ctx.node_data`` and is changed through ``ctx.effect`` and read through
``ctx.record``; arguments are picklable or objects the scenario registered
with :meth:`~dqsim.engine.simulator.Simulator.share` (saved by reference and
rebuilt by the scenario on resume).

A :class:`ResumableProcess` keeps everything it carries from one ``yield`` to
the next in picklable attributes — for processes whose steps are expensive
to redo (QKD batches). A checkpoint pickles the object, and a resumed run
calls :meth:`ResumableProcess.run` on the restored object and advances the
new generator to its first ``yield``, which must be the command the process
was suspended at. So ``run`` is written as a loop over phases, each phase
starting with side-effect-free code up to its one ``yield``; messages,
quantum operations, logs and state changes come after the ``yield``.
"""

from __future__ import annotations

from typing import Any


class ResumableProcess:
    """Base class of processes whose whole state survives a checkpoint (see the module docstring).

    Subclasses implement :meth:`run`. Attributes must be picklable; device
    arrays (CuPy) must be dropped or copied to the host in ``__getstate__``.
    """

    #: Whether the engine keeps the process once it has ended (for :meth:`Simulator.processes
    #: <dqsim.engine.simulator.Simulator.processes>`, which scenarios read results from); ``False``: it forgets
    #: it then, as it does a plain one (a process started again and again, whose results are elsewhere).
    kept_after_end = True

    def run(self, ctx):
        """The process body: a generator of engine commands, restartable at every ``yield``."""
        raise NotImplementedError

    def may_end_waiting(self, ctx) -> bool:
        """Whether the run may end while this process waits in a receive (``False``: the run is stuck then).

        Looked at once, on the processes still waiting in a receive when no
        event is left on any rank (:class:`~dqsim.engine.simulator.StuckProcessError`).
        ``True`` where the work it waits for was called off (a repeater's link
        side of an attempt abandoned at the cut-off, whose messages no longer
        come). A loop that serves requests for as long as the run lasts says
        so at each receive instead (``ctx.receive(tag, service=True)``).
        """
        return False


class ProcessHandle:
    """The engine's handle of one process: its generator, and what a checkpoint saves of it.

    For a :class:`ResumableProcess` that is the object; for a plain generator
    it is the generator function, its arguments and the step log (see the
    module docstring; ``log`` is ``None`` when the run is not checkpointed).
    """

    __slots__ = ("process", "function", "args", "log", "generator", "context", "started", "done", "_records")

    def __init__(self, *, process: ResumableProcess | None = None, function=None, args=(), context=None,
                 log: bool = False):
        self.process = process
        self.function = function
        self.args = tuple(args)
        self.log = [] if log and process is None else None
        self.generator = None
        self.context = context
        self.started = False
        self.done = False
        self._records = None

    @property
    def name(self) -> str:
        """The process's name in error lines: its class's name, or its generator function's."""
        if self.process is not None:
            return type(self.process).__name__
        return getattr(self.function, "__qualname__", None) or repr(self.function)

    @property
    def resumable(self) -> bool:
        return self.process is not None

    @property
    def reexecuting(self) -> bool:
        """True while a restored plain process is being fed its log (its effects are muted)."""
        return self._records is not None

    def _new_generator(self):
        if self.process is not None:
            return self.process.run(self.context)
        return self.function(self.context, *self.args)

    def send(self, value: Any):
        """Resume the process with ``value``; returns its next command (StopIteration at its end)."""
        if self.generator is None:
            self.generator = self._new_generator()
        self.started = True
        if self.log is not None:
            self.log.append((self.context.now_ps, value, []))
        try:
            return self.generator.send(value)
        except StopIteration:
            self.done = True
            raise

    def record(self, value):
        """Log ``value``, a result the process read from outside itself during this step."""
        if self.log is not None:
            self.log[-1][2].append(value)
        return value

    def next_record(self):
        """While re-executing: the next logged result of this step."""
        return next(self._records)

    def rebuild(self, context, set_time) -> None:
        """After unpickling: a new generator brought to the ``yield`` the process was saved at.

        ``set_time(t)`` sets the node's clock (plain processes are re-executed
        step by step at their logged times).
        """
        self.context = context
        self.generator = None
        if not self.started or self.done:
            return
        self.generator = self._new_generator()
        if self.process is not None:
            next(self.generator)  # re-yields the pending command, which the restored queue already holds
            return
        try:
            for time_ps, value, records in self.log:
                set_time(time_ps)
                self._records = iter(records)
                self.generator.send(value)
        finally:
            self._records = None

    def __getstate__(self):
        if self.process is not None:
            return {"process": self.process, "started": self.started, "done": self.done}
        if self.log is None:
            raise TypeError("a plain process of a run without checkpoints has no step log")
        return {"function": self.function, "args": self.args, "log": self.log, "started": self.started,
                "done": self.done}

    def __setstate__(self, state) -> None:
        self.process = state.get("process")
        self.function = state.get("function")
        self.args = state.get("args", ())
        self.log = state.get("log")
        self.started = state["started"]
        self.done = state["done"]
        self.generator = None
        self.context = None
        self._records = None
