"""Writes past a per-file size limit (``EFBIG``: ``ulimit -f``, or the largest file a file system holds).

A checkpoint whose slab file is larger than a file may be is a failed write like any other (a periodic one: a
warning and the run goes on; a stop's: one error line, exit 2), and so is an output that is: the one line names
the file, the size it needed, the limit (``RLIMIT_FSIZE``) and what to change. No older checkpoint is removed for
it (that makes room on a full disk, not under a per-file limit). The limit is set inside each rank around its
HDF5 writes: MPI's shared-memory files, numba's cache and Python's .pyc files are larger than it (a .pyc
written past it is cut short without an error, and its next import fails).
"""

import sys

import pytest

from dqsim.io import limits, open_run
from mpi_helper import ROOT, child_env, mpiexec_path, run_command
from test_network_checkpoint import JOB as NETWORK_JOB

#: ``python LIMITED LIMIT dqsim-ARGS``: ``dqsim ARGS`` on this rank under a file size limit of LIMIT bytes
#: while it writes an HDF5 file (run files and slab files; the numba cache of a cold start, whose write past
#: the limit raises, and Python's .pyc files are written without it), and with ``STOP_AT`` in the environment a
#: SIGTERM to itself while the STOP_AT-th piece of gates is applied.
LIMITED = """
import os, resource, signal, sys
from dqsim.io import slabs, writer
limit, atomic_h5_write = int(sys.argv.pop(1)), writer.atomic_h5_write
def limited_write(*args, **kwargs):  # the limit while dqsim writes an HDF5 file (numba's cache is written freely)
    unlimited = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, unlimited[1]))
    try:
        return atomic_h5_write(*args, **kwargs)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, unlimited)
slabs.atomic_h5_write = writer.atomic_h5_write = limited_write
if os.environ.get("STOP_AT"):
    from dqsim.state.sharded import ShardedState
    original, calls = ShardedState.apply_ops, []
    def apply_and_stop(self, ops, **kwargs):
        calls.append(1)
        if len(calls) == int(os.environ["STOP_AT"]):
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, ops, **kwargs)
    ShardedState.apply_ops = apply_and_stop
from dqsim.cli import console_main, exit_status
raise SystemExit(exit_status(console_main(sys.argv[1:])))  # as python -m dqsim: no MPI_Abort for status 2
"""

#: 13 qubits (a 128 KiB register, 64 KiB per rank on 2), a checkpoint at each boundary of 256 gates.
CIRCUIT = [str(ROOT / "jobs" / "random_circuit.toml"), "--set", "circuit.num_qubits=13", "--set", "circuit.depth=60",
           "--set", "simulation.fusion=false", "--set", "simulation.observables=[\"Z0 Z12\"]", "--quiet"]

#: Bytes a file may take: less than a rank's slab, more than a checkpoint's run file or manifest.
LIMIT = 40_000


def limited(tmp_path, ranks: int, args: list[str], limit: int = LIMIT, **env):
    script = tmp_path / "limited.py"
    script.write_text(LIMITED)
    cmd = [sys.executable, str(script), str(limit), *args]
    if ranks > 1:
        if mpiexec_path() is None:
            pytest.skip("no mpiexec beside this Python; install the 'mpi' extra")
        cmd = [mpiexec_path(), "-n", str(ranks), sys.executable, "-m", "mpi4py", *cmd[1:]]
    return run_command(cmd, check=False, env={**child_env(), **env}, timeout_s=120)


def says_limit(line: str, file_part: str) -> bool:
    """The one line names the file, the size it needed, the limit and the fix."""
    return (file_part in line and "File too large: it needs at least " in line and f"{LIMIT:,} bytes; RLIMIT_FSIZE"
            in line and "ulimit -f unlimited" in line)


@pytest.mark.parametrize("ranks", [1, 2])
def test_repro_checkpoints_and_an_output_over_the_file_size_limit_say_the_size_the_limit_and_the_fix(tmp_path,
                                                                                                  ranks):
    """Every periodic checkpoint's slab file is over the limit: one warning each naming the slab file, its size,
    the limit and the options (``[checkpoint].directory``, more ranks), the run goes on, nothing is removed to
    make room. The output's state (gathered into the run file on 1 rank, one slab file per rank on 2) is over it
    too: one error line, exit 2. Before, the lines said only ``cannot write the file (File too large)``."""
    ck, out = tmp_path / "ck", tmp_path / "x.h5"
    gather = [] if ranks == 1 else ["--set", "simulation.max_gather_qubits=12"]
    proc = limited(tmp_path, ranks, ["run", *CIRCUIT, "-o", str(out), "--set", "simulation.save_state=true",
                                     "--set", "checkpoint.every_wall_s=0.000001",
                                     "--set", f"checkpoint.directory=\"{ck}\"", *gather])
    lines = proc.stderr.strip().splitlines()
    warnings, rest = lines[:-1], lines[-1]
    assert proc.returncode == 2 and len(warnings) >= 2, proc.stderr[-3000:]
    for line in warnings:
        assert line.startswith("dqsim: warning: checkpoint ") and says_limit(line, ".slab0000.h5"), line
        assert "[checkpoint].directory" in line and "more ranks" in line and "the run goes on" in line, line
        assert "room" not in line, line  # not a full disk: no older checkpoint removed, none retried
    assert not list(ck.glob("*")), list(ck.glob("*"))
    assert rest.startswith("dqsim: error: "), rest
    if ranks == 1:
        assert says_limit(rest, f"{out}: cannot write the file") and "max_gather_qubits = 24" in rest, rest
    else:
        assert says_limit(rest, "x.slab000") and "1/P of the state" in rest, rest
    assert not list(tmp_path.glob("x.*")), list(tmp_path.glob("x.*"))


def test_a_stop_s_checkpoint_over_the_file_size_limit_stops_in_one_line(tmp_path):
    """A stop signal's checkpoint that cannot be written under the limit ends the run as any failed stop's
    checkpoint does (exit 2, one line), that line saying the size, the limit and the fix."""
    proc = limited(tmp_path, 1, ["run", *CIRCUIT, "-o", str(tmp_path / "x.h5"),
                                 "--set", f"checkpoint.directory=\"{tmp_path / 'ck'}\""], STOP_AT="2")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    assert says_limit(lines[0], ".slab0000.h5") and "the run stops as the signal asked" in lines[0], lines[0]
    assert not (tmp_path / "x.h5").exists()


#: A ``dqc`` job on a 64-node line (tests/test_network_checkpoint.py's, smaller, without its checkpoints): its
#: output's tables (the nodes' names among them) are what HDF5 reads back while it writes them.
LINE_JOB = NETWORK_JOB.split("[checkpoint]")[0].replace("num_nodes = 4096", "num_nodes = 64").replace(
    "shots = 100", "shots = 4")


@pytest.mark.parametrize("limit", [4_000, 15_000])
def test_repro_an_output_over_the_limit_while_hdf5_writes_its_tables_is_one_line_not_a_crash(tmp_path, limit):
    """Found by the checkpoint fault harness (``diskfull``, ``netline``, 2026-12-07 (later)): HDF5 reads back
    metadata it wrote, and once a write had failed (dropped, so that HDF5 closes cleanly) h5py's driver handed it
    a short read as a whole one: HDF5 parsed what its buffer held before and the run died by SIGSEGV in
    ``create_dataset``, with no line. Now the dropped bytes are read back as written (``_DroppingFile.readinto``):
    one line, exit 2, no file left."""
    job = tmp_path / "line.toml"
    job.write_text(LINE_JOB)
    out = tmp_path / "x.h5"
    proc = limited(tmp_path, 1, ["run", str(job), "-o", str(out), "--quiet"], limit=limit)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stderr[-3000:])
    assert lines[0].startswith(f"dqsim: error: {out}: cannot write the file (File too large: it needs at least ")
    assert f"{limit:,} bytes; RLIMIT_FSIZE" in lines[0], lines[0]
    assert not list(tmp_path.glob("x.*")), list(tmp_path.glob("x.*"))


def test_the_limit_or_the_file_system_is_named_as_the_cause():
    within = limits.too_large_words("out", 10 * 2**20, limit_bytes=2**30)
    assert "file system of out" in within and "RLIMIT_FSIZE" not in within
    past = limits.too_large_words("out", 10 * 2**20, limit_bytes=2**20)
    assert "RLIMIT_FSIZE" in past and "ulimit -f unlimited" in past and "10,485,760 bytes" in past
    assert limits.file_too_large(past) and not limits.file_too_large("No space left on device")
    assert limits.file_size_limit() is None or limits.file_size_limit() > 0
