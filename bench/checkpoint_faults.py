"""Fault injection for checkpoints (invariant 6): kills, stops, damaged files and failed writes.

For each scenario with checkpoints (qkd, repeater, dqc, trotter, cloud: small jobs from ``jobs/`` shrunk with
``--set``, periodic checkpoints on) and each rank count asked for, an uninterrupted run gives the reference
tables. Then, seeded by ``--seed``:

* ``kill``: SIGKILL to the whole process group after a random delay (0 .. the reference's wall time), or
  right after the k-th checkpoint temporary file (``*.tmp-*``) appears in the checkpoint folder (k random):
  ``dqsim resume`` of the newest complete checkpoint (or the run again when there is none).
* ``term`` / ``int``: SIGTERM / SIGINT at a random moment (to the launcher: ``dqsim`` on 1 rank, ``mpiexec`` on 2,
  which passes it on): the run must end with status 75 and the one line ``dqsim: checkpoint written to ...``, or
  0 (it had finished), or 130 for SIGINT while the command still loads; then resumed as for ``kill``.
* ``int2``: SIGINT, then a second one 0-0.5 s later (a second Ctrl-C stops at once: status 130, or 75/0 when
  the first had already stopped the run, or -2 when it ends a process the first had interrupted while loading; on several ranks MPICH's mpiexec takes a second Ctrl-C as "force
  abort" and ends the ranks itself, so any status goes there); then resumed as for ``kill``.
* ``intrun`` / ``int2run``: as ``int`` / ``int2``, the random moment counted from the run's first complete
  checkpoint (0 .. 0.8 of what is left of the reference's wall time then, at most 1 s): on the loaded 2-core VM a
  moment in the whole wall time mostly came while the command still loaded (status 130, ``dqsim: interrupted``),
  where no run is cut (added 2026-12-07 (later)).
* ``double``: as ``kill``, and the resume is SIGKILLed too at a random moment, then the newest checkpoint resumed.
* ``late``: SIGKILL 0-0.5 s after the output's first file appears once a checkpoint exists (the run's start writes
  and removes a probe of the output's name): during the output's write, the finished run's read of its state slab
  files and the removal of its checkpoints.

Since 2026-12-07 (morning) the scenarios also hold what the sessions of 2026-12-07 added (not in the default
``--scenarios`` of the first round, :data:`FIRST_ROUND`): ``netline`` (a 2,048-node line: sparse ``last_touched``
and node-record tables), ``qkdchan`` (Cascade's messages queued on a 1 Mbit/s classical channel, in flight at the
cuts), ``ldpc`` (blind LDPC cut mid-reconciliation), ``linkcut`` (a repeater chain with ``pumping_cutoff = "link"``)
and ``bellslab`` (Werner pairs drawn in the Bell basis as they join the register, the final state in slab files).
``--cuts N`` runs each scenario once keeping every checkpoint and resumes N of them picked at random (a state at a
cut is reached for sure). ``--cross SHARE`` resumes that share of the trials (and of the damaged checkpoints) on the
other rank count (1 <-> 2), compared with the uninterrupted run on the resume's rank count; ``--damage-scenarios``
picks whose checkpoints are damaged (slab kinds only where they have slab files), and the refusal's line must name
the damaged checkpoint and what to do (resume the previous checkpoint it names, or run the job again).

Every trial's output must have every table but ``timing`` bit-identical (the same bytes) to the reference's,
stderr must hold no traceback, and no command may hang (``--timeout``).

``fullafter`` (``--fullafter N``, added 2026-12-07 (afternoon)): the disk fills after the run's first periodic
checkpoint (a file size limit set on the running ranks, or a tmpfs filled by a filler file), the run ends cleanly,
and its newest kept checkpoint, resumed with room, gives the reference's tables (:func:`fullafter_trials`).

``fullresume`` (``--fullresume N``, added 2026-12-07 (late afternoon)): the disk fills during a resume of one of the
run's kept checkpoints, once the resume's own first checkpoint is complete (:func:`fullresume_trials`). ``--mpio``
runs every command with ``.venv-mpio``'s Python (parallel HDF5, built by ``scripts/mpio_env.sh``) under
``mpiexec.mpich``: a state of several ranks is then written collectively into the run file.

``damage`` (1 rank's and 2 ranks' checkpoints of the ``dqc`` job, whose checkpoints hold state slabs): a copy of a
checkpoint truncated, a byte flipped at a random offset of a random file, a 4 KiB page zeroed, one rank's slab
file removed, two checkpoints' slab files swapped, a checkpoint of another job (another seed) renamed to this one's
name: ``dqsim resume`` must exit 2 with one line on stderr, no traceback, within the timeout.

``diskfull``: on 1 rank the run with its file size limited (``RLIMIT_FSIZE``, SIGXFSZ ignored, so a write past it
fails with EFBIG) to a limit between the size of the smallest checkpoint file and of the largest; on 2 ranks (MPICH
cannot start under such a limit: its shared-memory files) the checkpoint folder a tmpfs holding 1-3 checkpoints
(ENOSPC; needs root for ``mount``, else skipped): a periodic checkpoint that fails
must say so in one line (a warning), leave the previous checkpoint whole (it resumes to the reference), and the
run ends cleanly (status 0 with the output, or status 2 with one line when the output cannot be written).

Usage (from the repository root)::

    PYTHONPATH=$PWD .venv/bin/python bench/checkpoint_faults.py                # 30 trials, 6 damaged, 1 full
    PYTHONPATH=$PWD .venv/bin/python bench/checkpoint_faults.py --seed 1 --ranks 1 2 \
        --trials kill=2,term=1,int=1,int2=1,double=1 --damage 12 --diskfull 3 --report bench/results/x.md
    PYTHONPATH=$PWD .venv/bin/python bench/checkpoint_faults.py --scenarios netline qkdchan ldpc linkcut bellslab \
        --trials kill=1,term=1,late=1 --cross 0.5 --damage 4 --damage-scenarios netline qkdchan ldpc linkcut bellslab

Keep it short on a shared machine: each trial runs the job about twice (a trial takes 10-30 s on the loaded
2-core VM). Exit status 1 when any trial failed; failed trials keep their folder (with ``stderr.txt``) under
``--work``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dqsim.io import open_run  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
MPIEXEC = str(Path(PYTHON).parent / "mpiexec")


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A small job with periodic checkpoints: the job file (``jobs/...``, or ``text``, written to the work folder as
    ``job``), its ``--set`` options and the checkpoint period."""

    job: str
    sets: tuple[str, ...]
    every_sim_s: float
    text: str | None = None


def _netline_job() -> str:
    """A 2,048-node line: test_network_checkpoint's job (sparse ``last_touched`` and node-record tables) with half its
    nodes and 30 shots, without its ``[checkpoint]`` (the harness sets it)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_network_checkpoint import JOB  # noqa: PLC0415 - the one text of that job

    text = JOB.split("[checkpoint]")[0].replace("num_nodes = 4096", "num_nodes = 2048")
    return text.replace("shots = 100", "shots = 30")




SCENARIOS = {
    "qkd": Scenario("jobs/bb84_decoy_50km.toml", ("qkd.pulses=2000000", "qkd.batch_pulses=250000",
                                                  "qkd.block_pulses=1000000"), 0.001),
    "repeater": Scenario("jobs/repeater_chain.toml", ("chain.num_links=[2]", "chain.total_distance_km=[40.0]",
                                                      "chain.num_pairs=200", 'chain.swapping="nested"',
                                                      "chain.purification_rounds=1", "chain.cutoff_s=0.002"), 0.05),
    "dqc": Scenario("jobs/dqc_ghz_4qpu.toml", ("simulation.store_shots=true", 'circuit.generator="random"',
                                               "circuit.depth=6", "distribution.assignment=[0, 0, 1, 1, 2, 2, 3, 3]"),
                    0.0008),
    "trotter": Scenario("jobs/ising_trotter_4qpu.toml", ("evolution.num_points=3", "simulation.trajectories=1",
                                                         "simulation.shots=100"), 0.0005),
    "cloud": Scenario("jobs/cloud_queue.toml", (), 0.0001),
    # added 2026-12-07 (morning): what the last two sessions added
    "netline": Scenario("netline.toml", (), 2e-5, _netline_job()),
    # Cascade's messages queue on a 1 Mbit/s classical channel: messages in flight at most cuts
    "qkdchan": Scenario("jobs/bb84_decoy_50km.toml", ("qkd.pulses=200000", "qkd.block_pulses=100000",
                                                      "qkd.batch_pulses=50000", "qkd.link.distance_km=20.0",
                                                      'qkd.error_correction="cascade"',
                                                      "qkd.classical_bit_rate_hz=1e6"), 0.003),
    # blind LDPC (the default LDPC mode), cut mid-reconciliation
    "ldpc": Scenario("jobs/bb84_decoy_50km.toml", ("qkd.pulses=500000", "qkd.batch_pulses=250000",
                                                   "qkd.block_pulses=500000", 'qkd.error_correction="ldpc"',
                                                   "run.seed=8", "qkd.classical_bit_rate_hz=1e6"), 0.0002),
    "linkcut": Scenario("jobs/repeater_chain.toml", ("chain.num_links=[3]", "chain.total_distance_km=[60.0]",
                                                     "chain.num_pairs=100", "chain.purification_rounds=1",
                                                     'chain.purification="dejmps"', "chain.cutoff_s=0.002",
                                                     "chain.max_restarts=1000", 'chain.pumping_cutoff="link"'),
                        0.02),
    # Werner pairs (drawn in the Bell basis as they join the register) and the final state in slab files (the
    # finished run reads them against the manifest before it removes its checkpoints)
    "bellslab": Scenario("jobs/dqc_ghz_4qpu.toml", ('circuit.generator="random"', "circuit.depth=6",
                                                    "network.link.source_fidelity=0.9", "simulation.shots=40",
                                                    "simulation.save_state=true", "simulation.max_gather_qubits=4"),
                         0.0008),
}

#: The scenarios of the 2026-12-06 round (the default of ``--scenarios``).
FIRST_ROUND = ("qkd", "repeater", "dqc", "trotter", "cloud")

#: Tables whose values depend on the machine (wall times), left out of the comparison.
UNCOMPARED = {"timing"}


def child_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    env.pop("DQSIM_READY_DIR", None)
    return env


#: How each rank starts dqsim on several ranks: ``python -m mpi4py -m dqsim`` or ``python -m dqsim`` (--launch).
LAUNCH = {"mpi4py": ["-m", "mpi4py", "-m", "dqsim"], "dqsim": ["-m", "dqsim"]}
RANK_COMMAND = LAUNCH["mpi4py"]


def command(ranks: int, args: list[str]) -> list[str]:
    if ranks == 1:
        return [PYTHON, "-m", "dqsim", *args]
    return [MPIEXEC, "-n", str(ranks), PYTHON, *RANK_COMMAND, *args]


#: Where scenarios given by their text are written (the work folder, set by main).
JOB_FOLDER = Path(tempfile.gettempdir())


def job_path(scenario: Scenario) -> str:
    """The job file of ``scenario``: in ``jobs/``, or its text written into :data:`JOB_FOLDER` (once)."""
    if scenario.text is None:
        return str(ROOT / scenario.job)
    path = JOB_FOLDER / scenario.job
    if not path.exists():
        path.write_text(scenario.text)
    return str(path)


def job_args(scenario: Scenario, folder: Path, output: Path, *, checkpoints: bool = True,
             extra: tuple[str, ...] = ()) -> list[str]:
    args = ["run", job_path(scenario), "-o", str(output), "--quiet"]
    for option in scenario.sets + extra:
        args += ["--set", option]
    if checkpoints:
        args += ["--set", f"checkpoint.every_sim_s={scenario.every_sim_s}",
                 "--set", f'checkpoint.directory="{folder / "ck"}"', "--set", "checkpoint.keep=3"]
    return args


#: A run whose checkpoints stay when it finishes (a finished run removes its checkpoints since 2026-12-06).
KEPT = ["--set", "checkpoint.keep=100", "--set", "checkpoint.keep_when_done=true"]


@dataclasses.dataclass
class Outcome:
    status: int | None  # None: it hung and was killed
    stderr: str
    wall_s: float


def default_sigint(then=None):
    """A child's setup: SIGINT back to its default action (a harness started with ``&`` from a script has it
    ignored, and so would every run it starts: Python then takes no Ctrl-C), then ``then()``."""
    def setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if then is not None:
            then()
    return setup


def start(ranks: int, args: list[str], preexec=None) -> subprocess.Popen:
    return subprocess.Popen(command(ranks, args), cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=default_sigint(preexec))


def finish(proc: subprocess.Popen, timeout_s: float, began: float) -> Outcome:
    try:
        _out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        _out, err = proc.communicate()
        return Outcome(None, err, time.monotonic() - began)
    return Outcome(proc.returncode, err, time.monotonic() - began)


def run(ranks: int, args: list[str], timeout_s: float, preexec=None) -> Outcome:
    began = time.monotonic()
    return finish(start(ranks, args, preexec), timeout_s, began)


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints (with a manifest), oldest first (their names sort by engine run, then boundary)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.h5")
                  if ".slab" not in p.name and p.with_name(p.name[:-3] + ".manifest.json").exists())


def temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.glob("*.tmp-*")] if folder.is_dir() else []


def differences(reference: Path, other: Path) -> list[str]:
    """Tables (but UNCOMPARED) whose bytes differ between two run files; [] when all are the same."""
    try:
        a, b = open_run(reference), open_run(other)
    except Exception as exc:  # noqa: BLE001 - a harness reports what it finds
        return [f"unreadable: {exc}"]
    names = [n for n in a.tables if n not in UNCOMPARED]
    found = [f"missing table {n}" for n in names if n not in b.tables]
    for name in names:
        if name in b.tables:
            x, y = a.table(name), b.table(name)
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                found.append(f"table {name} differs")
    return found


def traceback_in(text: str) -> bool:
    return "Traceback" in text


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc): hydra starts each rank in a session of its own, so the
    launcher's process group does not hold them."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL to ``pid`` and every process below it (a node that dies: launcher and ranks at once)."""
    for each in reversed(process_tree(pid)):
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass


def signal_at(proc: subprocess.Popen, how: str) -> None:
    """SIGKILL to the launcher and every rank; SIGTERM and SIGINT to the launcher (which passes them on)."""
    try:
        if how == "kill":
            kill_tree(proc.pid)
        else:
            os.kill(proc.pid, signal.SIGTERM if how == "term" else signal.SIGINT)
    except ProcessLookupError:
        pass


#: Kinds of trial whose signal comes at a random moment after the run's first checkpoint: the signal they send.
RUNNING = {"intrun": "int", "int2run": "int2"}


def interrupt(rng: random.Random, proc: subprocess.Popen, how: str, folder: Path, wall_s: float) -> str:
    """Wait for a random moment (or, for half of the kills, the k-th temporary file), then signal; say when."""
    began = time.monotonic()
    ck = folder / "ck"
    if how == "kill" and rng.random() < 0.5:
        wanted, seen, last = rng.randint(1, 4), set(), ()
        while proc.poll() is None and time.monotonic() - began < 3 * wall_s + 30:
            names = tuple(temporary_files(ck))
            if names and names != last:
                seen.update(names)
                last = names
                if len(seen) >= wanted:
                    signal_at(proc, how)
                    return f"at temporary file #{len(seen)} ({names[0]})"
            time.sleep(0.001)
        return f"run ended before temporary file #{wanted} (seen {len(seen)})"
    if how == "late":  # once the output's first file appears: its write, the finished run's slab check
        while proc.poll() is None and time.monotonic() - began < 3 * wall_s + 30:
            # (after a checkpoint: the run's start writes and removes a probe file of the output's name)
            written = sorted(p.name for p in folder.glob("interrupted*")) if checkpoints(ck) else []
            if written:
                after = rng.uniform(0.0, 0.5)
                time.sleep(after)
                signal_at(proc, "kill")
                return f"{after:.2f} s after {written[0]} appeared"
            time.sleep(0.001)
        return "run ended before its output appeared"
    if how in RUNNING:  # from the run's first checkpoint: past the command's start
        while proc.poll() is None and not checkpoints(ck) and time.monotonic() - began < 3 * wall_s + 30:
            time.sleep(0.002)
        if proc.poll() is not None or not checkpoints(ck):
            return "run ended before its first checkpoint"
        # within what is left of the reference's wall time then (the start and the work to the first cut are
        # behind), and at most 1 s: on the loaded VM the rest of a run varied more than its whole reference
        left_s = max(wall_s - (time.monotonic() - began), 0.2)
        how, wall_s, began = RUNNING[how], min(0.8 * left_s, 1.0), time.monotonic()
    delay = rng.uniform(0.0, wall_s)
    while proc.poll() is None and time.monotonic() - began < delay:
        time.sleep(0.005)
    if how == "int2":  # an impatient user: Ctrl-C, then another one while the run checkpoints
        again = rng.uniform(0.0, 0.5)
        signal_at(proc, "int")
        time.sleep(again)
        signal_at(proc, "int")
        return f"after {delay:.2f} s and {again:.2f} s more"
    signal_at(proc, how)
    return f"after {delay:.2f} s"


def resume_or_rerun(scenario: Scenario, ranks: int, folder: Path, output: Path, timeout_s: float,
                    kill_after_s: float | None = None) -> tuple[str, Outcome]:
    found = checkpoints(folder / "ck")
    if found:
        args, what = ["resume", str(found[-1]), "-o", str(output), "--quiet"], f"resume {found[-1].name[-40:]}"
        what += f" on {ranks}"
    else:
        args, what = job_args(scenario, folder, output), "rerun (no checkpoint)"
    began = time.monotonic()
    proc = start(ranks, args)
    if kill_after_s is not None:
        while proc.poll() is None and time.monotonic() - began < kill_after_s:
            time.sleep(0.005)
        signal_at(proc, "kill")
    return what, finish(proc, timeout_s, began)


def trial(rng: random.Random, name: str, scenario: Scenario, ranks: int, how: str, references: dict, wall_s: float,
          work: Path, timeout_s: float, resume_ranks: int | None = None) -> dict:
    """One interrupted run and its resume (on ``resume_ranks`` ranks, default ``ranks``), compared with the
    uninterrupted run on the resume's rank count (``references``: output by (scenario, ranks))."""
    resume_ranks = resume_ranks or ranks
    reference = references[(name, resume_ranks)]
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-{ranks}-{how}-", dir=work))
    began = time.monotonic()
    proc = start(ranks, job_args(scenario, folder, folder / "interrupted.h5"))
    when = interrupt(rng, proc, "kill" if how == "double" else how, folder, wall_s)
    first = finish(proc, timeout_s, began)
    kind, how = how, RUNNING.get(how, how)  # judged as the signal it sent
    problems = []
    if first.status is None:
        problems.append("interrupted run hung")
    if traceback_in(first.stderr):
        problems.append("traceback in interrupted run")
    if how in ("term", "int", "int2"):
        last = first.stderr.strip().splitlines()[-1:] or [""]
        if first.status == 75 and not last[0].startswith("dqsim: checkpoint written to "):
            problems.append(f"stopped without the checkpoint line: {last[0]!r}")
        # a second SIGINT to mpiexec is hydra's own "force abort" (it ends the ranks: 255 and its lines, or 2)
        # a second Ctrl-C that comes as the process ends after the first (while loading: "dqsim: interrupted")
        # ends it by SIGINT (-2; a shell says 130 either way)
        allowed = (0, 75, 130, -signal.SIGINT) if how == "int2" else (0, 75) if kind == "intrun" else (0, 75, 130)
        if first.status not in allowed and first.status is not None and not (how == "int2" and ranks > 1):
            problems.append(f"{how} gave status {first.status}: {first.stderr.strip()[-300:]!r}")
    said = (first.stderr.strip().splitlines() or [""])[-1][:70] if how in ("term", "int", "int2") else ""
    whole = (folder / "interrupted.h5.manifest.json").exists()  # the output's manifest: written last
    left = len(checkpoints(folder / "ck"))
    steps = [f"{how} {when}: status {first.status}{f' ({said!r})' if said else ''}, "
             f"{left} checkpoints{', output whole' if whole else ''}"]
    if how == "late" and not whole and not left and "appeared" in when:
        problems.append("killed in the output's write with no checkpoint left: the run's progress lost")
    output = folder / "interrupted.h5"
    if first.status != 0:
        if how == "double":
            what, second = resume_or_rerun(scenario, resume_ranks, folder, folder / "resumed.h5", timeout_s,
                                           kill_after_s=rng.uniform(0.0, 1.3 * wall_s))
            steps.append(f"{what} killed: status {second.status}")
            if second.status is None or traceback_in(second.stderr):
                problems.append(f"killed resume: status {second.status} {second.stderr.strip()[-300:]!r}")
        output = folder / "resumed.h5"
        output.unlink(missing_ok=True)
        what, outcome = resume_or_rerun(scenario, resume_ranks, folder, output, timeout_s)
        steps.append(f"{what}: status {outcome.status}")
        if outcome.status != 0:
            problems.append(f"{what}: status {outcome.status} {outcome.stderr.strip()[-400:]!r}")
    if not problems:
        problems += differences(reference if first.status != 0 else references[(name, ranks)], output)
    keep_or_remove(folder, problems, first.stderr)
    shown = ranks if resume_ranks == ranks else f"{ranks}->{resume_ranks}"
    return {"scenario": name, "ranks": shown, "kind": kind, "steps": "; ".join(steps), "problems": problems,
            "folder": str(folder)}


def cut_trials(rng: random.Random, name: str, ranks: int, references: dict, work: Path, num: int, timeout_s: float,
               other_count) -> list[dict]:
    """One run of scenario ``name`` on ``ranks`` ranks that keeps every checkpoint, then ``num`` of them picked at
    random resumed (each on ``other_count(ranks)`` ranks), each to the reference's tables on that rank count: a
    state at a periodic cut (a message queued on a classical channel, a reconciliation half done) is reached for
    sure, where a signal at a random moment may miss it."""
    scenario = SCENARIOS[name]
    folder = Path(tempfile.mkdtemp(prefix=f"{name}-{ranks}-cuts-", dir=work))
    made = run(ranks, job_args(scenario, folder, folder / "full.h5") + KEPT, timeout_s)
    found = checkpoints(folder / "ck")
    if made.status != 0 or not found:
        return [{"scenario": name, "ranks": ranks, "kind": "cuts", "steps": "setup",
                 "problems": [f"setup: status {made.status}, {len(found)} checkpoints {made.stderr[-300:]!r}"],
                 "folder": str(folder)}]
    rows = []
    for index, picked in enumerate(sorted(rng.sample(found, min(num, len(found))))):
        resume_ranks = other_count(ranks)
        output = folder / f"resumed-{index}.h5"
        outcome = run(resume_ranks, ["resume", str(picked), "-o", str(output), "--quiet"], timeout_s)
        problems = [] if outcome.status == 0 else [f"status {outcome.status} {outcome.stderr.strip()[-400:]!r}"]
        if not problems:
            problems = differences(references[(name, resume_ranks)], output)
        rows.append({"scenario": name, "ranks": ranks if resume_ranks == ranks else f"{ranks}->{resume_ranks}",
                     "kind": "cut", "steps": f"resume {picked.name[-30:]} ({found.index(picked) + 1} of {len(found)})"
                                         f": status {outcome.status}", "problems": problems, "folder": str(folder)})
    keep_or_remove(folder, [p for row in rows for p in row["problems"]], made.stderr)
    return rows


def keep_or_remove(folder: Path, problems: list[str], stderr: str) -> None:
    """Remove a trial's folder when it passed; else keep it, with the first command's stderr in ``stderr.txt``."""
    if problems:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "stderr.txt").write_text(stderr)
    else:
        shutil.rmtree(folder, ignore_errors=True)


# ---- damaged checkpoints ----------------------------------------------------------------------------------


def checkpoint_files(path: Path) -> list[Path]:
    stem = path.name[:-3]
    return [path, *sorted(path.parent.glob(stem + ".slab*.h5")), path.with_name(stem + ".manifest.json")]


def copy_checkpoint(path: Path, folder: Path) -> Path:
    folder.mkdir(parents=True)
    for f in checkpoint_files(path):
        shutil.copy(f, folder / f.name)
    return folder / path.name


def damage_trials(rng: random.Random, ranks: int, work: Path, num: int, timeout_s: float, name: str = "dqc",
                  resume_ranks: int | None = None) -> list[dict]:
    """``num`` damaged copies of checkpoints of scenario ``name``'s job written on ``ranks`` ranks, each resumed once
    (on ``resume_ranks`` ranks, default ``ranks``); slab kinds only where its checkpoints have slab files."""
    scenario = SCENARIOS[name]
    resume_ranks = resume_ranks or ranks
    base = work / f"damage-{name}-{ranks}"
    made = run(ranks, job_args(scenario, base, base / "full.h5") + KEPT, timeout_s)
    other = work / f"damage-{name}-{ranks}-other"
    run(ranks, job_args(scenario, other, other / "full.h5", extra=("run.seed=99",)) + KEPT,
        timeout_s)
    found, foreign = checkpoints(base / "ck"), checkpoints(other / "ck")
    if made.status != 0 or len(found) < 2 or not foreign:
        return [{"scenario": name, "ranks": ranks, "kind": "damage", "steps": "setup",
                 "problems": [f"setup failed: {made.status} {made.stderr[-300:]!r}"], "folder": str(base)}]
    has_slabs = any(".slab" in f.name for f in checkpoint_files(found[0]))
    kinds = ["truncate", "flip", "zero-page", *(["remove-slab", "swap-slabs"] if has_slabs else []), "other-job"]
    results = []
    for index in range(num):
        kind = kinds[index % len(kinds)]
        folder = work / f"damage-{name}-{ranks}-{index:02d}-{kind}"
        source = found[rng.randrange(len(found) - 1)]
        target = copy_checkpoint(source, folder)
        files = checkpoint_files(target)
        detail = ""
        if kind in ("truncate", "flip", "zero-page"):
            for _ in range(50):  # a page of a slab may hold only zero amplitudes: damage that changes bytes
                victim = rng.choice(files)
                size = victim.stat().st_size
                before = victim.read_bytes()
                data = bytearray(before)
                if kind == "truncate":
                    keep = rng.randrange(size)
                    del data[keep:]
                    detail = f"{victim.name[-24:]} cut to {keep} of {size} B"
                elif kind == "flip":
                    offset = rng.randrange(size)
                    data[offset] ^= 1 << rng.randrange(8)
                    detail = f"{victim.name[-24:]} bit flipped at {offset} of {size}"
                else:
                    offset = rng.randrange(0, max(size - 4096, 1))
                    data[offset:offset + 4096] = bytes(len(data[offset:offset + 4096]))
                    detail = f"{victim.name[-24:]} 4 KiB zeroed at {offset} of {size}"
                if bytes(data) != before:
                    break
            victim.write_bytes(bytes(data))
        elif kind == "remove-slab":
            slabs = [f for f in files if ".slab" in f.name]
            victim = rng.choice(slabs)
            victim.unlink()
            detail = f"{victim.name[-16:]} removed of {len(slabs)}"
        elif kind == "swap-slabs":
            # a slab of another checkpoint of the run whose bytes differ (a slab of idle padding qubits holds
            # zero amplitudes at every cut: swapping those changes nothing)
            mine = [f for f in files if ".slab" in f.name]
            pairs = [(index_, other_slab) for second in found if second != source
                     for index_, other_slab in enumerate(sorted(second.parent.glob(second.name[:-3] + ".slab*.h5")))
                     if index_ < len(mine) and other_slab.read_bytes() != mine[index_].read_bytes()]
            if not pairs:
                shutil.rmtree(folder)
                continue
            pick, other_slab = rng.choice(pairs)
            shutil.copy(other_slab, mine[pick])
            detail = f"slab {pick} from {other_slab.name[-40:]}"
        else:
            other_source = rng.choice(foreign)
            shutil.rmtree(folder)
            copied = copy_checkpoint(other_source, folder)
            # give every file the damaged job's name: the other job's checkpoint under this one's name
            for f in checkpoint_files(copied):
                f.rename(folder / f.name.replace(other_source.name[:-3], target.name[:-3]))
            detail = f"{other_source.name[-40:]} renamed"
        outcome = run(resume_ranks, ["resume", str(target), "-o", str(folder / "x.h5"), "--quiet"], timeout_s)
        lines = outcome.stderr.strip().splitlines()
        problems = []
        if outcome.status != 2 or len(lines) != 1 or traceback_in(outcome.stderr) or (folder / "x.h5").exists():
            problems.append(f"status {outcome.status}, {len(lines)} lines: {outcome.stderr.strip()[-400:]!r}")
        if not problems and str(target.parent) not in lines[0] and target.name[:-3] not in lines[0]:
            problems.append(f"the line names no file of the checkpoint: {lines[0][:200]!r}")
        if not problems and not any(words in lines[0] for words in ("resume that one", "run the job again")):
            problems.append(f"the line says not what to do: {lines[0][-200:]!r}")
        shown = ranks if resume_ranks == ranks else f"{ranks}->{resume_ranks}"
        results.append({"scenario": name, "ranks": shown, "kind": f"damage:{kind}", "steps": detail + (
            f" -> {lines[-1][:110]!r}" if lines else ""), "problems": problems, "folder": str(folder)})
        keep_or_remove(folder, problems, outcome.stderr)
    return results


# ---- failed writes ------------------------------------------------------------------------------------------


def limit_file_size(limit: int):
    def limit_it():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return limit_it


def mount_tmpfs(folder: Path, size_bytes: int) -> bool:
    """A tmpfs of ``size_bytes`` (whole pages) at ``folder``, for a full disk (ENOSPC); False where none can be
    mounted (not root, no ``mount``)."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={-(-size_bytes // 4096) * 4096}", "tmpfs",
                           str(folder)], capture_output=True)
    return done.returncode == 0


def diskfull_trials(rng: random.Random, ranks: int, work: Path, num: int, names: list[str], timeout_s: float,
                    references: dict) -> list[dict]:
    """A full disk: on 1 rank the run's file size limited (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG) between its
    smallest and largest checkpoint file; on several ranks (MPICH's shared-memory files fail under such a
    limit at MPI_Init) the checkpoint folder a tmpfs of 1-3 checkpoints' bytes (ENOSPC), where it can be
    mounted. The run must warn in one line per failed checkpoint, end with its output (status 0) or in one
    line (status 2), and its newest complete checkpoint must resume to the reference's tables."""
    results = []
    for index in range(num):
        name = names[index % len(names)]
        scenario = SCENARIOS[name]
        probe = work / f"full-probe-{name}-{ranks}"
        if not probe.exists():
            run(ranks, job_args(scenario, probe, probe / "out.h5") + KEPT, timeout_s)
        made = checkpoints(probe / "ck")
        sizes = sorted(f.stat().st_size for f in (probe / "ck").glob("*.h5"))
        if not sizes or not made:
            continue
        folder = work / f"full-{name}-{ranks}-{index}"
        mounted, preexec = False, None
        if ranks == 1:
            limit = rng.randint(sizes[0] if sizes[0] < sizes[-1] else 1, sizes[-1])
            how, preexec = f"RLIMIT_FSIZE {limit} B", limit_file_size(limit)
        else:
            one = sum(f.stat().st_size for f in checkpoint_files(made[0]) if f.exists())
            size = rng.randint(one, 3 * one)
            mounted = mount_tmpfs(folder / "ck", size)
            if not mounted:
                continue
            how = f"tmpfs of {-(-size // 4096) * 4} KiB for checkpoints of ~{one // 1024} KiB"
        try:
            outcome = run(ranks, job_args(scenario, folder, folder / "out.h5"), timeout_s, preexec=preexec)
            lines = outcome.stderr.strip().splitlines()
            problems = []
            if outcome.status is None or traceback_in(outcome.stderr):
                problems.append(f"status {outcome.status}: {outcome.stderr.strip()[-600:]!r}")
            elif outcome.status == 0:
                if not (folder / "out.h5").exists():
                    problems.append("status 0 without output")
                else:
                    problems += differences(references[(name, ranks)], folder / "out.h5")
            elif outcome.status != 2 or not lines or not lines[-1].startswith("dqsim: error: "):
                problems.append(f"status {outcome.status}: {outcome.stderr.strip()[-600:]!r}")
            warned = [line for line in lines if "checkpoint" in line.lower()]
            found = checkpoints(folder / "ck")
            if found and not problems:
                what, resumed = resume_or_rerun(scenario, ranks, folder, folder / "resumed.h5", timeout_s)
                if resumed.status != 0:
                    problems.append(f"{what} of the kept checkpoint: {resumed.status} {resumed.stderr[-300:]!r}")
                else:
                    problems += differences(references[(name, ranks)], folder / "resumed.h5")
        finally:
            if mounted:
                subprocess.run(["umount", str(folder / "ck")], capture_output=True)
        results.append({"scenario": name, "ranks": ranks, "kind": "diskfull",
                        "steps": f"{how}: status {outcome.status}, {len(warned)} checkpoint lines "
                                 f"({(warned or [''])[0][:100]!r}), {len(found)} checkpoints kept"
                                 f"{', the newest resumed' if found else ''}",
                        "problems": problems, "folder": str(folder)})
        keep_or_remove(folder, problems, outcome.stderr)
    return results


def limit_running(pid: int, limit: int) -> int:
    """``RLIMIT_FSIZE`` of ``limit`` bytes on ``pid`` and every process below it (``prlimit``: the ranks of a run
    already past ``MPI_Init``, whose shared-memory files a limit at the start breaks); how many took it. Python
    ignores SIGXFSZ, so a write past it fails with EFBIG."""
    done = 0
    for each in process_tree(pid):
        try:
            resource.prlimit(each, resource.RLIMIT_FSIZE, (limit, limit))
            done += 1
        except (ProcessLookupError, PermissionError, OSError):
            pass
    return done


def fill_disk(folder: Path) -> int:
    """Fill ``folder``'s file system with ``folder/filler``: its free bytes reserved at once (``posix_fallocate``:
    since 2026-12-07 (late afternoon); writing 256 MiB took long enough for a short run to write all its checkpoints
    before the disk was full), then written until ENOSPC, down to 4 KiB writes; the bytes it takes."""
    written, size = 0, 2**20
    with open(folder / "filler", "wb", buffering=0) as fh:
        stat = os.statvfs(folder)
        try:
            os.posix_fallocate(fh.fileno(), 0, stat.f_bavail * stat.f_frsize)
            written = stat.f_bavail * stat.f_frsize
            fh.seek(written)
        except OSError:
            pass
        while size >= 4096:
            try:
                written += fh.write(bytes(size)) or 0
            except OSError:
                size //= 2
    return written


def wait_for_checkpoint(proc: subprocess.Popen, folder: Path, since_s: float = 0.0) -> Path | None:
    """Poll (5 ms) until ``folder`` holds a complete checkpoint whose manifest was written at ``since_s`` (s since the
    epoch) or later (a resume rewrites the names of the later checkpoints it removes); ``None`` where the run ended
    first."""
    while proc.poll() is None:
        found = [path for path in checkpoints(folder) if _written_s(path) >= since_s]
        if found:
            return found[0]
        time.sleep(0.005)
    return None


def _written_s(path: Path) -> float:
    """When checkpoint ``path``'s manifest was written (s since the epoch; 0 where it is gone)."""
    try:
        return path.with_name(path.name[:-3] + ".manifest.json").stat().st_mtime
    except OSError:
        return 0.0


def fill_after(rng: random.Random, proc: subprocess.Popen, disk: Path, mounted: bool,
               since_s: float = 0.0) -> tuple[Path | None, str]:
    """Once ``proc`` has written a complete checkpoint into ``disk/ck`` (at ``since_s`` or later), fill the disk: the
    tmpfs ``disk`` (``mounted``) by a filler file, else a file size limit below that checkpoint's run file on
    ``proc`` and every process below it. ``(that checkpoint or None: the run ended first, what was done)``."""
    first = wait_for_checkpoint(proc, disk / "ck", since_s)
    if first is None:
        return None, "run ended before its first checkpoint was seen"
    if mounted:
        return first, f"tmpfs filled after {first.name[-24:]} ({fill_disk(disk) // 1024} KiB of filler)"
    limit = rng.randint(1024, max(1025, first.stat().st_size - 1))
    return first, f"RLIMIT_FSIZE {limit} B on {limit_running(proc.pid, limit)} processes after {first.name[-24:]}"


def judge_full(outcome: Outcome, output: Path, reference: Path, how: str) -> tuple[list[str], str]:
    """``(problems, step)`` of a run that ended on a full disk: status 0 (its ``output`` then ``reference``'s
    tables) or 2 with a ``dqsim: error:`` last line, no traceback, no hang."""
    lines = outcome.stderr.strip().splitlines()
    warned = [line for line in lines if line.startswith("dqsim: warning: checkpoint")]
    step = (f"{how}: status {outcome.status}, {len(warned)} checkpoint warnings"
            f"{f' ({warned[0][:90]!r})' if warned else ''}"
            f"{f', last line {lines[-1][:90]!r}' if lines and outcome.status == 2 else ''}")
    problems = []
    if outcome.status is None or traceback_in(outcome.stderr):
        problems.append(f"status {outcome.status}: {outcome.stderr.strip()[-600:]!r}")
    elif outcome.status not in (0, 2) or (outcome.status == 2 and not lines[-1].startswith("dqsim: error: ")):
        problems.append(f"status {outcome.status}: {outcome.stderr.strip()[-600:]!r}")
    if outcome.status == 0 and not problems:  # it wrote its output after all (room made, or it fitted)
        problems += [f"output: {each}" for each in differences(reference, output)]
    return problems, step


def resume_with_room(name: str, ranks: int, found: list[Path], folder: Path, timeout_s: float, references: dict,
                     other_count=None) -> tuple[list[str], str]:
    """``(problems, step)``: the newest of the kept checkpoints ``found``, resumed with room on ``ranks`` ranks (or
    ``other_count(ranks, name)``), must give the reference's tables on that rank count bit for bit."""
    output = folder / "resumed.h5"
    again = other_count(ranks, name) if other_count is not None else ranks
    resumed = run(again, ["resume", str(found[-1]), "-o", str(output), "--quiet"], timeout_s)
    step = f"resume {found[-1].name[-24:]} ({len(found)} kept) with room on {again}: status {resumed.status}"
    if resumed.status != 0:
        return [f"resume: status {resumed.status} {resumed.stderr.strip()[-400:]!r}"], step
    return differences(references[(name, again)], output), step


def room_back(outcome: Outcome, how: str, name: str, ranks: int, disk: Path, folder: Path, timeout_s: float,
              references: dict, other_count, *, mounted: bool, expected: bool) -> tuple[list[str], list[str]]:
    """``(problems, steps)`` of a full-disk run that ended with ``outcome`` (``how``: what filled the disk): judged
    (:func:`judge_full`, its output ``disk/out.h5``), then the room given back (the filler removed where the disk is
    a tmpfs, ``mounted``; a file size limit ended with the run's processes); a complete checkpoint must be left in
    ``disk/ck`` where one had been seen (``expected``), and, where the run was sound, its newest is resumed with room
    (:func:`resume_with_room`)."""
    problems, step = judge_full(outcome, disk / "out.h5", references[(name, ranks)], how)
    if mounted:
        (disk / "filler").unlink(missing_ok=True)
    found = checkpoints(disk / "ck")
    if expected and not found:
        return problems + ["no complete checkpoint kept"], [step]
    if not found or problems:
        return problems, [step]
    more, resumed = resume_with_room(name, ranks, found, folder, timeout_s, references, other_count)
    return more, [step, resumed]


def fullafter_trials(rng: random.Random, ranks: int, work: Path, num: int, names: list[str], timeout_s: float,
                     references: dict, other_count=None) -> list[dict]:
    """A disk that fills AFTER the run's first periodic checkpoint (added 2026-12-07 (afternoon): the ``diskfull``
    trials limit the run from its start, and a finished run removes its checkpoints, so no kept checkpoint of a
    full-disk run had been resumed). The run keeps its checkpoints when done; once its first complete checkpoint
    appears, either its processes get a file size limit below that checkpoint's run file (``prlimit``, EFBIG; on
    2 ranks too, past MPI_Init) or, where a tmpfs can be mounted (root), its checkpoint folder and output sit on a
    tmpfs that a filler file then fills (ENOSPC). The run must end with status 0 (its output then the reference's
    tables) or 2 with one ``dqsim: error:`` line, no traceback; then the room comes back (no limit, the filler
    removed) and its newest complete checkpoint, resumed on the same rank count (or on ``other_count(ranks, name)``:
    ``--cross``), must give the reference's tables on that rank count bit for bit."""
    results = []
    for index in range(num):
        name = names[index % len(names)]
        folder = work / f"fullafter-{name}-{ranks}-{index}"
        disk = folder / "disk"
        mounted = index % 2 == 1 and mount_tmpfs(disk, 256 * 2**20)
        disk.mkdir(parents=True, exist_ok=True)
        args = job_args(SCENARIOS[name], disk, disk / "out.h5") + ["--set", "checkpoint.keep_when_done=true"]
        problems, steps = [], []
        try:
            began = time.monotonic()
            proc = start(ranks, args)
            first, how = fill_after(rng, proc, disk, mounted)
            outcome = finish(proc, timeout_s, began)
            problems, steps = room_back(outcome, how, name, ranks, disk, folder, timeout_s, references, other_count,
                                        mounted=mounted, expected=first is not None)
        finally:
            if mounted:
                subprocess.run(["umount", str(disk)], capture_output=True)
        results.append({"scenario": name, "ranks": ranks, "kind": "fullafter", "steps": "; ".join(steps),
                        "problems": problems, "folder": str(folder)})
        keep_or_remove(folder, problems, outcome.stderr)
    return results


def fullresume_trials(rng: random.Random, ranks: int, work: Path, num: int, names: list[str], timeout_s: float,
                      references: dict, other_count=None) -> list[dict]:
    """A disk that fills DURING A RESUME (added 2026-12-07 (late afternoon): ``fullafter`` fills it during a run from
    the start only). The run keeps every checkpoint (``keep = 100``, kept when done); one of its checkpoints but the
    last, picked at random, is resumed, its later checkpoints either removed (as after a stop there) or left (the
    resume removes them at its first write); once the resume's own first checkpoint is complete, the disk fills as in
    :func:`fullafter_trials` (a filler file on a tmpfs, else a file size limit on the resume's processes). The resume
    must end with status 0 (its output the reference's tables) or 2 in one line, no traceback; then, with room, its
    newest complete checkpoint resumed (on ``other_count(ranks, name)`` with ``--cross``) must give the reference's
    tables bit for bit."""
    results = []
    for index in range(num):
        name = names[index % len(names)]
        folder = work / f"fullresume-{name}-{ranks}-{index}"
        disk = folder / "disk"
        mounted = index % 2 == 1 and mount_tmpfs(disk, 16 * 2**20)  # quick to fill, room for these small jobs
        disk.mkdir(parents=True, exist_ok=True)
        problems, steps, outcome = [], [], None
        try:
            made = run(ranks, job_args(SCENARIOS[name], disk, disk / "made.h5") + KEPT, timeout_s)
            written = checkpoints(disk / "ck")
            if made.status != 0 or len(written) < 2:
                problems.append(f"the run to resume: status {made.status}, {len(written)} checkpoints "
                                f"{made.stderr.strip()[-300:]!r}")
            else:
                picked = written[rng.randrange(len(written) - 1)]
                later = written[written.index(picked) + 1:]
                drop = rng.random() < 0.5
                if drop:
                    for path in later:
                        for file in checkpoint_files(path):
                            file.unlink(missing_ok=True)
                began, since_s = time.monotonic(), time.time()
                proc = start(ranks, ["resume", str(picked), "-o", str(disk / "out.h5"), "--quiet"])
                first, how = fill_after(rng, proc, disk, mounted, since_s)
                outcome = finish(proc, timeout_s, began)
                what = (f"resume {picked.name[-24:]} ({written.index(picked) + 1} of {len(written)}, the "
                        f"{len(later)} later {'removed' if drop else 'left'}), {how}")
                problems, steps = room_back(outcome, what, name, ranks, disk, folder, timeout_s, references,
                                            other_count, mounted=mounted, expected=True)
        finally:
            if mounted:
                subprocess.run(["umount", str(disk)], capture_output=True)
        results.append({"scenario": name, "ranks": ranks, "kind": "fullresume", "steps": "; ".join(steps),
                        "problems": problems, "folder": str(folder)})
        keep_or_remove(folder, problems, outcome.stderr if outcome is not None else made.stderr)
    return results


# ---- main ---------------------------------------------------------------------------------------------------


def report(rows: list[dict], args, load: str, elapsed_s: float) -> str:
    lines = [f"seed {args.seed}, ranks {args.ranks} (launch: {args.launch}), scenarios {', '.join(args.scenarios)}, "
             f"trials {args.trials}, "
             f"cuts {args.cuts}, damage {args.damage} ({', '.join(args.damage_scenarios)}), cross {args.cross}, "
             f"diskfull {args.diskfull}, fullafter {args.fullafter}, fullresume {args.fullresume}"
             f"{', parallel HDF5 (.venv-mpio)' if args.mpio else ''}; {elapsed_s:.0f} s; load before/after: {load}", "",
             "| scenario | ranks | kind | what happened | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        verdict = "ok" if not row["problems"] else "FAIL: " + "; ".join(row["problems"]).replace("|", "/")
        lines.append(f"| {row['scenario']} | {row['ranks']} | {row['kind']} | {row['steps'].replace('|', '/')} | "
                     f"{verdict} |")
    failed = sum(bool(r["problems"]) for r in rows)
    lines += ["", f"{len(rows) - failed} of {len(rows)} trials passed."]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--scenarios", nargs="+", default=list(FIRST_ROUND), choices=list(SCENARIOS))
    parser.add_argument("--trials", default="kill=1,term=1,double=1",
                        help="trials per scenario and rank count, e.g. kill=2,term=1,int=1,int2=1,double=1")
    parser.add_argument("--damage", type=int, default=6, help="damaged checkpoints per rank count")
    parser.add_argument("--diskfull", type=int, default=1, help="runs with a file-size limit per rank count")
    parser.add_argument("--fullafter", type=int, default=0,
                        help="runs per rank count whose disk fills after their first checkpoint, then resumed")
    parser.add_argument("--fullresume", type=int, default=0,
                        help="runs per rank count resumed from a kept checkpoint whose disk fills during the resume")
    parser.add_argument("--mpio", action="store_true",
                        help="run every command with .venv-mpio's Python (parallel HDF5) under mpiexec.mpich")
    parser.add_argument("--launch", choices=list(LAUNCH), default="mpi4py",
                        help="how mpiexec starts each rank: python -m mpi4py -m dqsim, or python -m dqsim")
    parser.add_argument("--timeout", type=float, default=180.0, help="a command running longer has hung, s")
    parser.add_argument("--cross", type=float, default=0.0,
                        help="share of the trials (and damaged checkpoints) resumed on the other rank count (1<->2)")
    parser.add_argument("--cuts", type=int, default=0,
                        help="per scenario and rank count: one run keeping every checkpoint, this many resumed")
    parser.add_argument("--damage-scenarios", nargs="+", default=["dqc"], choices=list(SCENARIOS),
                        help="the scenarios whose checkpoints are damaged")
    parser.add_argument("--work", default=None, help="folder for the runs (default: a new temporary one)")
    parser.add_argument("--report", default=None, help="append the markdown table to this file")
    args = parser.parse_args()
    global RANK_COMMAND, JOB_FOLDER, PYTHON, MPIEXEC  # noqa: PLW0603 - a script's settings
    RANK_COMMAND = LAUNCH[args.launch]
    if args.mpio:  # parallel HDF5: the environment scripts/mpio_env.sh builds, its MPICH's launcher
        PYTHON, MPIEXEC = str(ROOT / ".venv-mpio" / "bin" / "python"), "mpiexec.mpich"
    rng = random.Random(args.seed)
    work = Path(args.work or tempfile.mkdtemp(prefix="checkpoint_faults-"))
    work.mkdir(parents=True, exist_ok=True)
    JOB_FOLDER = work
    load = os.getloadavg()
    began = time.monotonic()
    plan = [(kind, int(count)) for kind, count in (item.split("=") for item in args.trials.split(",") if item)]
    rows, references, walls = [], {}, {}
    # (damage alone needs no reference)
    for name in args.scenarios if plan or args.diskfull or args.cuts or args.fullafter or args.fullresume else ():
        for ranks in args.ranks:
            folder = work / f"reference-{name}-{ranks}"
            outcome = run(ranks, job_args(SCENARIOS[name], folder, folder / "full.h5", checkpoints=False),
                          args.timeout)
            if outcome.status != 0:
                rows.append({"scenario": name, "ranks": ranks, "kind": "reference", "steps": "",
                             "problems": [f"reference run: {outcome.status} {outcome.stderr[-300:]!r}"]})
                continue
            references[(name, ranks)], walls[(name, ranks)] = folder / "full.h5", outcome.wall_s
        if (name, 1) in references and (name, 2) in references:
            same = differences(references[(name, 1)], references[(name, 2)])
            print(f"{name}: references on 1 and 2 ranks {'differ: ' + ', '.join(same) if same else 'identical'}",
                  flush=True)

    def other_count(ranks: int, name: str, *, needs_reference: bool = True) -> int:
        other = 3 - ranks if ranks in (1, 2) else ranks
        usable = (name, other) in references or not needs_reference
        return other if usable and rng.random() < args.cross else ranks

    for name in args.scenarios:
        for ranks in args.ranks:
            if (name, ranks) not in references:
                continue
            for kind, count in plan:
                for _ in range(count):
                    row = trial(rng, name, SCENARIOS[name], ranks, kind, references, walls[(name, ranks)], work,
                                args.timeout, resume_ranks=other_count(ranks, name))
                    print(row, flush=True)
                    rows.append(row)
    for name in args.scenarios:
        for ranks in args.ranks:
            if args.cuts and (name, ranks) in references:
                for row in cut_trials(rng, name, ranks, references, work, args.cuts, args.timeout,
                                      lambda count: other_count(count, name)):
                    print(row, flush=True)
                    rows.append(row)
    for ranks in args.ranks:
        if args.damage:
            for name in args.damage_scenarios:
                for row in damage_trials(rng, ranks, work, args.damage, args.timeout, name,
                                         resume_ranks=other_count(ranks, name, needs_reference=False)):
                    print(row, flush=True)
                    rows.append(row)
        if args.diskfull:
            names = [n for n in args.scenarios if (n, ranks) in references]
            for row in diskfull_trials(rng, ranks, work, args.diskfull, names, args.timeout, references):
                print(row, flush=True)
                rows.append(row)
    for ranks in args.ranks:
        names = [n for n in args.scenarios if (n, ranks) in references]
        for count, trials in ((args.fullafter, fullafter_trials), (args.fullresume, fullresume_trials)):
            for row in trials(rng, ranks, work, count, names, args.timeout, references, other_count) if count else ():
                print(row, flush=True)
                rows.append(row)
    text = report(rows, args, f"{load[0]:.2f} / {os.getloadavg()[0]:.2f}", time.monotonic() - began)
    print(text)
    if args.report:
        with open(args.report, "a", encoding="utf-8") as fh:
            fh.write(text)
    return 1 if any(r["problems"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
