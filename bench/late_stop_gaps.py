"""How long a stop signal after the engine's last step waits for a place to checkpoint (one rank).

Runs ``dqsim run JOB --quiet`` in this process (one rank) and records, by
wrapping functions, the wall time of the end of the last engine run
(``Simulator.run``), of every stop point after it
(``CheckpointSession.stop_point``, and ``Simulator.stop_point`` called by a
scenario itself: dqc's fidelity check, expectation values and sampling,
trotter's observables), of every place rank 0's output write looks for a
stop (``dqsim.cli.main._cut_on_stop``) and of the end of the run. A stop
signal that comes in a stretch between two of these waits at most that
stretch; before the change that added the stop points, it waited for all
of it (the run then finished, status 0).

    python bench/late_stop_gaps.py jobs/bb84_decoy_50km.toml [--set KEY=VALUE ...]
    mpiexec -n 2 python -m mpi4py bench/late_stop_gaps.py JOB [--set KEY=VALUE ...]

On several ranks every rank stamps its own looks, also the collective looks
every rank takes while it writes a state above ``max_gather_qubits``
(``dqsim.io.sharded._Looks.look``, where the tree has them); while rank 0
writes the run file a signal to another rank waits for rank 0's next look
(``comm.RootTask``), so that rank's stretches count rank 0's write looks too.
Rank 0 prints rank 0's line with ``ranks``: each rank's longest stretch and
its output write's stretches (``longest_gap_s``, ``longest_gap_between``,
``write_gaps_s``).

Prints one JSON line: seconds from the end of the last engine run to the end
(``after_engine_s``), the looks after it (``looks``; a session's stop point
without a finished run to checkpoint is none), the longest stretch without
one (``longest_gap_s``, the end of the run counted as a look;
``longest_gap_between``: the looks at its ends) and the stretches of the
output write (``write_gaps_s``: from the last stop point before it, through
each look of the write, to the end).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from dqsim import comm as comm_mod
from dqsim.cli import main as cli_main
from dqsim.engine import checkpoint
from dqsim.engine.simulator import Simulator
from dqsim.io import sharded


def measure(argv: list[str]) -> dict:
    """Run ``dqsim run ARGV`` (on every rank, output in a temporary folder) and time the looks for a stop; rank 0
    returns the figures (``{}`` on the others)."""
    marks: list[tuple[str, float]] = []
    # code from before the stop points has neither: its looks are then none (its gap is all the work after)
    run = Simulator.run
    stop_point = getattr(checkpoint.CheckpointSession, "stop_point", None)
    sim_stop_point = getattr(Simulator, "stop_point", None)
    cut = getattr(cli_main, "_cut_on_stop", None)
    looks_class = getattr(sharded, "_Looks", None)
    state_look = getattr(looks_class, "look", None)
    in_session = []  # a session's stop point calls the finished run's Simulator.stop_point: one look, stamped once

    def timed_run(self, *args, **kwargs):
        try:
            return run(self, *args, **kwargs)
        finally:
            marks.append(("engine", time.perf_counter()))

    def timed_stop_point(self):
        if getattr(self, "finished_run", None) is not None:  # else no look: nothing would be checkpointed
            marks.append(("stop_point", time.perf_counter()))
        in_session.append(1)
        try:
            return stop_point(self)
        finally:
            in_session.pop()

    def timed_sim_stop_point(self, *args, **kwargs):
        if not in_session and self.checkpointer is not None:
            marks.append(("scenario_stop_point", time.perf_counter()))
        return sim_stop_point(self, *args, **kwargs)

    def timed_cut(*args):  # (the write's RootTask since the looks hear of other ranks' signals)
        marks.append(("write", time.perf_counter()))
        return cut(*args)

    def timed_state_look(self, *args, **kwargs):  # a look that is taken (a write given cut_on, looks left)
        if self.left > 0 and self.verdict == 0:
            marks.append(("state", time.perf_counter()))
        return state_look(self, *args, **kwargs)

    # (owner, name, original, timed): each wrapped for the run, put back after (where the tree has it)
    patches = [(owner, name, original, timed) for owner, name, original, timed in (
        (Simulator, "run", run, timed_run),
        (checkpoint.CheckpointSession, "stop_point", stop_point, timed_stop_point),
        (Simulator, "stop_point", sim_stop_point, timed_sim_stop_point),
        (cli_main, "_cut_on_stop", cut, timed_cut),
        (looks_class, "look", state_look, timed_state_look)) if original is not None]
    for owner, name, _original, timed in patches:
        setattr(owner, name, timed)
    comm = comm_mod.init()
    try:
        folder = comm.bcast(tempfile.mkdtemp(prefix="late_stop_gaps-") if comm.rank == 0 else None)
        started = time.perf_counter()
        status = cli_main.main(["run", *argv, "--quiet", "-o", os.path.join(folder, "out.h5"),
                                "--set", f"checkpoint.directory={json.dumps(os.path.join(folder, 'ck'))}"])
        ended = time.perf_counter()
    finally:
        for owner, name, original, _timed in patches:
            setattr(owner, name, original)
    ranks = comm.gather((marks, ended))
    comm.barrier()
    if comm.rank == 0:
        shutil.rmtree(folder, ignore_errors=True)
        gaps = _gaps(marks, ended)
        if comm.size > 1:  # a signal to another rank during rank 0's write waits for rank 0's next look
            writes = [mark for mark in marks if mark[0] == "write"]
            gaps["ranks"] = [_gaps(sorted(theirs + (writes if rank else []), key=lambda m: m[1]), end, brief=True)
                             for rank, (theirs, end) in enumerate(ranks)]
        return {"args": argv, "status": status, "num_ranks": comm.size, "total_s": ended - started, **gaps,
                "loadavg_1min": os.getloadavg()[0]}
    return {}


def _gaps(marks: list, ended: float, *, brief: bool = False) -> dict:
    """The stretches between one rank's looks after the last engine run (see the module docstring)."""
    last = max(i for i, (kind, _) in enumerate(marks) if kind == "engine")
    looks = [(kind, t) for kind, t in marks[last + 1:] if kind != "engine"]
    named = [marks[last], *looks, ("end", ended)]
    gaps = [(b[1] - a[1], f"{a[0]} -> {b[0]}") for a, b in zip(named, named[1:])]
    found = {"longest_gap_s": max(gaps)[0], "longest_gap_between": max(gaps)[1],
             # the output write alone: from the stop point before it (the last session stop point) to the end
             "write_gaps_s": [round(gap, 4) for gap, _ in gaps[max(i for i, (kind, _) in enumerate(named)
                                                                  if kind not in ("write", "state", "end")):]]}
    if brief:
        return found
    return {"engine_runs": sum(k == "engine" for k, _ in marks), "after_engine_s": ended - marks[last][1],
            "looks": len(looks), "stop_points": sum(k == "stop_point" for k, _ in marks[last + 1:]),
            "scenario_stop_points": sum(k == "scenario_stop_point" for k, _ in marks[last + 1:]),
            "write_looks": sum(k == "write" for k, _ in marks[last + 1:]),
            "state_looks": sum(k == "state" for k, _ in marks[last + 1:]), **found}


if __name__ == "__main__":
    measured = measure(sys.argv[1:])
    if measured:
        print(json.dumps(measured), flush=True)
