"""Processes the engine runs: plain generators, and resumable ones a checkpoint can save.

A *plain* process is a generator ``process_fn(ctx, *args)``; it is easy to
write but its local variables cannot be saved, so a checkpoint of a run with
live plain processes is resumed by record and replay
(:mod:`dqsim.engine.checkpoint`).

A :class:`ResumableProcess` keeps everything it carries from one ``yield`` to
the next in picklable attributes. A checkpoint pickles it with the node's
event queue, mailbox and counters, and a resumed run continues it without
re-running anything: the engine calls :meth:`ResumableProcess.run` on the
restored object and advances the new generator to its first ``yield``, which
must be the command the process was suspended at. So ``run`` is written as
a loop over phases, each phase starting with side-effect-free code up to its
one ``yield``; messages, quantum operations, logs and state changes come
after the ``yield``.
"""

from __future__ import annotations

from typing import Any


class ResumableProcess:
    """Base class of processes whose whole state survives a checkpoint (see the module docstring).

    Subclasses implement :meth:`run`. Attributes must be picklable; device
    arrays (CuPy) must be dropped or copied to the host in ``__getstate__``.
    """

    def run(self, ctx):
        """The process body: a generator of engine commands, restartable at every ``yield``."""
        raise NotImplementedError


class ProcessHandle:
    """The engine's handle of one process: its generator, and its resumable object if any.

    Pickling keeps the resumable object (and whether it started or finished)
    and drops the generator, which :meth:`rebuild` makes again; a handle of a
    plain generator process cannot be pickled.
    """

    __slots__ = ("process", "generator", "context", "started", "done")

    def __init__(self, generator=None, process: ResumableProcess | None = None, context=None):
        self.process = process
        self.generator = generator
        self.context = context
        self.started = False
        self.done = False

    @property
    def resumable(self) -> bool:
        return self.process is not None

    def send(self, value: Any):
        """Resume the process with ``value``; returns its next command (StopIteration at its end)."""
        if self.generator is None:
            self.generator = self.process.run(self.context)
        self.started = True
        try:
            return self.generator.send(value)
        except StopIteration:
            self.done = True
            raise

    def rebuild(self, context) -> None:
        """After unpickling: a new generator advanced to the ``yield`` the process was saved at."""
        self.context = context
        self.generator = None
        if self.started and not self.done:
            self.generator = self.process.run(context)
            next(self.generator)  # re-yields the pending command, which the restored queue already holds

    def __getstate__(self):
        if self.process is None:
            raise TypeError("a plain generator process cannot be saved; write it as a ResumableProcess")
        return {"process": self.process, "started": self.started, "done": self.done}

    def __setstate__(self, state) -> None:
        self.process = state["process"]
        self.started = state["started"]
        self.done = state["done"]
        self.generator = None
        self.context = None
