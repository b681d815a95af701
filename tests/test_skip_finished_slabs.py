"""``dqsim run --skip-finished`` reads every byte of the output's state slab files against its manifest.

Before 2026-12-07 it checked the slab files beside a run file by size only: a slab damaged in place (one
amplitude's byte flipped, the size kept) was taken as finished and the job was not run again. A 10-qubit QFT that
writes its final state to one slab file (``max_gather_qubits = 6``) runs on one rank in this process.
"""

import h5py

from dqsim.cli import finished
from mpi_helper import run_here
from run_files import flip_byte

QFT = ["jobs/qft_20q.toml", "--quiet", "--set", "circuit.num_qubits=10", "--set", 'simulation.observables=["X0"]',
       "--set", "simulation.max_gather_qubits=6", "--skip-finished"]


def test_repro_skip_finished_runs_again_when_a_slab_is_damaged_in_place(tmp_path):
    out = tmp_path / "q.h5"
    run_here(["run", *QFT, "-o", str(out)])
    slab = tmp_path / "q.slab0000.h5"
    assert slab.is_file()
    skipped = run_here(["run", *QFT, "-o", str(out)]).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped
    with h5py.File(slab, "r") as h5:
        amplitudes_at = h5["slab"].id.get_offset()
    size = slab.stat().st_size
    flip_byte(slab, amplitudes_at + 100)  # an amplitude's byte; the size stays
    assert slab.stat().st_size == size
    assert finished.damaged_slab(out, 1, 2) is None  # rank 1 of 2 reads the second slab file: there is none
    rerun = run_here(["run", *QFT, "-o", str(out)]).stderr.splitlines()
    assert len(rerun) == 1 and rerun[0].startswith(f"dqsim: note: {slab}: damaged (its ") and rerun[0].endswith(
        "differs from the manifest's): running the job again (--skip-finished skips only an output whose every "
        "file matches its manifest)"), rerun
    assert finished.damaged_slab(out) is None  # written again, whole
    skipped = run_here(["run", *QFT, "-o", str(out)]).stderr.splitlines()
    assert len(skipped) == 1 and skipped[0].endswith("not running it again (--skip-finished)"), skipped


def test_repro_clean_keeps_the_checkpoints_of_a_run_whose_slab_is_damaged_in_place(tmp_path):
    """``dqsim clean JOB`` took an output whose slab files had their manifest's sizes as whole, and removed its
    run's checkpoints: after an amplitude damaged in place, the one way back to the run's state. Since 2026-12-07
    it reads every byte of them first: the checkpoints stay, their line naming the damage; undamaged, they go."""
    out, ck = tmp_path / "q.h5", tmp_path / "ck"
    job = [*QFT[:-1], "--set", f'checkpoint.directory="{ck}"', "--set", "checkpoint.every_wall_s=1e-9",
           "--set", "checkpoint.keep=2", "--set", "checkpoint.keep_when_done=true"]
    run_here(["run", *job, "-o", str(out)])
    kept = sorted(ck.glob("*.h5"))
    assert kept
    clean = ["clean", "jobs/qft_20q.toml", *[arg for arg in job[2:] if arg != "--quiet"], "-o", str(out)]
    would = run_here([*clean, "--dry-run"]).stdout
    assert "would remove" in would and "is whole" in would, would
    slab = tmp_path / "q.slab0000.h5"
    with h5py.File(slab, "r") as h5:
        amplitudes_at = h5["slab"].id.get_offset()
    flip_byte(slab, amplitudes_at + 100)
    lines = run_here(clean).stdout
    assert sorted(ck.glob("*.h5")) == kept, lines
    assert f"whose output {out} is damaged ({slab}: damaged (its " in lines and "kept to resume from" in lines, lines
