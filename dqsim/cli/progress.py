"""Progress of a run as plain lines, for output that is not a terminal (batch logs, ``slurm-*.out``).

On a terminal ``dqsim run`` draws a bar (rich); elsewhere rank 0 writes one
line per stage, one per sweep point (a count of at most :data:`MAX_POINTS`
items: distances, chain configurations, time points; longer counts such as
gates or shots get at most one line a second) and, while nothing else is
said, one at least every :data:`HEARTBEAT_S` seconds::

    dqsim: [   12.0 s] distances 3/9 (33%), about 24 s left

A stage is the scenario's description with its numbers and any text in
parentheses taken out (the description "chain configurations", "label: t =
0.5" or "user jobs (ran ghz6)" stays one stage while its numbers and
the job it names change). A stage's work is taken to start at the
previous update (its first update reports work already done), and the
estimate assumes the rest of the stage goes at the pace it went so far;
for a long count (more than :data:`MAX_POINTS` items: gates, shots,
trajectories) the pace is taken from the stage's first update on, so the
setup before it (compiling kernels, the first trajectory) does not inflate
the estimate, and that first line has none. Nor has a line before the
stage has run :data:`MIN_ESTIMATE_S`.
A closed output (``dqsim run ... | head``) ends the lines, not the run.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Callable, TextIO

#: A line at least this often (seconds) while a run goes on.
HEARTBEAT_S = 10.0
#: Counts up to this many items are sweep points, each worth a line.
MAX_POINTS = 100
#: Longer counts (gates, shots): at most one line in this many seconds.
MIN_POINT_INTERVAL_S = 1.0
#: No estimate of the time left before a stage has run this long (seconds): a fraction done in less
#: (a resumed run's first update, the first percent of a point) says nothing of the pace.
MIN_ESTIMATE_S = 1.0

_NUMBER = re.compile(r"[-+]?\d[\d.,_eE+-]*")
_PARENTHESES = re.compile(r"\([^()]*\)")


def stage_of(what: str) -> str:
    """The stage a progress description belongs to: its text without numbers and parenthesised text.

    Examples:
        >>> stage_of("label: t = 0.5 (3/10)") == stage_of("label: t = 1.25 (4/10)")
        True
        >>> stage_of("user jobs (ran ghz6)") == stage_of("user jobs (running qasm_bell)")
        True
        >>> stage_of("gates") == stage_of("trajectories")
        False
    """
    return _NUMBER.sub("#", _PARENTHESES.sub("()", what))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class ProgressLog:
    """Progress lines on a stream, called as ``update(done, total, what)`` by a scenario.

    Args:
        stream: where lines go (``sys.stdout`` in ``dqsim run``).
        heartbeat_s: the longest silence while running, seconds (> 0).
        clock: seconds, monotonic (tests pass a fake one).
        resumed: a resumed run (``dqsim resume``), whose first update of a stage can count work done
            before the checkpoint: every stage's pace is then taken from its first update on, as for a
            long count.
        note: called at each heartbeat line (a silence of ``heartbeat_s``); a non-empty text it returns
            is added to that line (``dqsim run``: kernels numba compiled since the last line, which a
            first run spends its first minute on).

    Examples:
        >>> import io
        >>> now = [0.0]
        >>> out = io.StringIO()
        >>> log = ProgressLog(out, clock=lambda: now[0])
        >>> now[0] = 2.0; log.update(1, 4, "distances"); now[0] = 4.0; log.update(2, 4, "distances")
        >>> print(out.getvalue(), end="")
        dqsim: [    2.0 s] distances 1/4 (25%), about 6 s left
        dqsim: [    4.0 s] distances 2/4 (50%), about 4 s left
    """

    def __init__(self, stream: TextIO, *, heartbeat_s: float = HEARTBEAT_S,
                 clock: Callable[[], float] = time.monotonic, resumed: bool = False,
                 note: Callable[[], str] | None = None):
        if not heartbeat_s > 0:
            raise ValueError(f"heartbeat_s must be > 0, got {heartbeat_s}")
        self._stream = stream
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._resumed = resumed
        self._note = note
        self._lock = threading.Lock()
        self._started = clock()
        self._last_line = self._started
        self._last_update = self._started
        self._closed = False
        self._stage: str | None = None
        self._stage_started = self._started
        self._stage_first: tuple[float, float] = (self._started, 0.0)  # time and count of the stage's first update
        self._state: tuple[float, float | None, str] | None = None
        self._printed_done: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _line(self, done: float, total: float | None, what: str, now: float) -> str:
        text = f"dqsim: [{now - self._started:7.1f} s] {what}"
        if total:
            fraction = min(max(done / total, 0.0), 1.0)
            whole = float(done).is_integer() and float(total).is_integer()
            text += f" {int(done)}/{int(total)} ({fraction:.0%})" if whole else f" ({fraction:.0%})"
            if total > MAX_POINTS or self._resumed:  # gates, shots: the pace since the stage's first update,
                # which can hold the setup (compiling kernels, a first trajectory) that the rest does not
                # repeat; a resumed run's first update holds the work done before the checkpoint
                since, first_done = self._stage_first
                spent, fraction_run = now - since, fraction - min(max(first_done / total, 0.0), 1.0)
            else:
                spent, fraction_run = now - self._stage_started, fraction
            if 0 < fraction < 1 and spent >= MIN_ESTIMATE_S and fraction_run > 0:
                text += f", about {_duration(spent * (1 - fraction) / fraction_run)} left"
        return text

    def _emit(self, now: float, note: str = "") -> None:
        if self._closed:
            return
        done, total, what = self._state
        try:
            print(self._line(done, total, what, now) + note, file=self._stream, flush=True)
        except (BrokenPipeError, ValueError):  # the reader went away (or the stream was closed)
            self._closed = True
        self._last_line = now
        self._printed_done = done

    def update(self, done: float, total: float | None, what: str) -> None:
        """Record progress; write a line at a new stage, a new sweep point (throttled) or after a silence."""
        with self._lock:
            now = self._clock()
            stage = stage_of(what)
            new_stage = stage != self._stage
            if new_stage:
                self._stage, self._stage_started = stage, self._last_update
                self._stage_first = (now, done)
            self._last_update = now
            self._state = (done, total, what)
            point = (total is not None and float(done).is_integer() and done != self._printed_done
                     and (total <= MAX_POINTS or now - self._last_line >= MIN_POINT_INTERVAL_S))
            if new_stage or point or now - self._last_line >= self._heartbeat_s:
                self._emit(now)

    def _beat(self) -> None:
        while not self._stop.wait(min(1.0, self._heartbeat_s)):
            with self._lock:
                now = self._clock()
                if self._state is not None and now - self._last_line >= self._heartbeat_s:
                    self._emit(now, (self._note() or "") if self._note is not None else "")

    def start(self) -> None:
        """Start the heartbeat thread (a line after each silence of ``heartbeat_s``)."""
        self._thread = threading.Thread(target=self._beat, name="dqsim-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
