"""Run the QKD example jobs with two dqsim trees and compare their HDF5 outputs field by field.

A check, not a test: a change that should leave the results as they were
(a faster post-processing, a faster sampler) is run before and after with the
same seeds and every dataset and attribute of each pair of run files is
compared: compound tables field by field, each as raw bytes (NaN bits
included; variable-length strings by value), attributes by value and type. Left out, because they change from
one run of the same code to the next: :data:`VOLATILE` attributes and the
:data:`VOLATILE_DATASETS` (wall-clock timings, creation time, the output path
in ``overrides``, and ``engine_windows``, which the engine sizes from wall time), and ``dqsim_commit``, which
names the code that ran (two trees differ there by design).

Usage::

    python bench/qkd_outputs_compare.py run TREE OUT_DIR       # every job of JOBS with TREE's dqsim
    python bench/qkd_outputs_compare.py run-network TREE OUT_DIR [NAME ...]  # NETWORK_JOBS on 1, 2 and 4 ranks each
    python bench/qkd_outputs_compare.py compare DIR_A DIR_B    # one line per file; exit 1 on a difference

``run`` starts ``python -m dqsim run`` (or ``mpiexec -n RANKS``) in ``TREE`` with
``PYTHONPATH=TREE``, so an older tree (a ``git archive`` of the base commit) is
measured by its own code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

#: name -> (job file under jobs/, --set overrides, ranks)
JOBS = {
    "bb84_decoy_50km": ("bb84_decoy_50km.toml", [], 1),
    "bb84_50km_cascade": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade"], 1),
    "bb84_10km_cascade": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade", "qkd.link.distance_km=10"], 1),
    "bb84_10km_cascade_2ranks": ("bb84_decoy_50km.toml",
                                 ["qkd.error_correction=cascade", "qkd.link.distance_km=10"], 2),
    "bb84_distance_sweep": ("bb84_distance_sweep.toml", [], 1),
    "bb84_eve_intercept": ("bb84_eve_intercept.toml", [], 1),
    "bb84_eve_intercept_cascade": ("bb84_eve_intercept.toml", ["qkd.error_correction=cascade"], 1),
    "bb84_raman_coexistence": ("bb84_raman_coexistence.toml", [], 1),
    "bbm92_20km": ("bbm92_20km.toml", [], 1),
    "bbm92_20km_cascade": ("bbm92_20km.toml", ["qkd.error_correction=cascade", "qkd.block_pulses=5000000"], 1),
    "bbm92_eve_intercept": ("bbm92_eve_intercept.toml", [], 1),
    "bbm92_eve_intercept_cascade": ("bbm92_eve_intercept.toml", ["qkd.error_correction=cascade"], 1),
    "bbm92_finite_key": ("bbm92_finite_key.toml", [], 1),
    "e91_chsh": ("e91_chsh.toml", [], 1),
    "e91_chsh_cascade": ("e91_chsh.toml", ["qkd.error_correction=cascade", "qkd.block_pulses=5000000"], 1),
    "qkd_trusted_chain": ("qkd_trusted_chain.toml", [], 1),
    # Large batches, the detection sampler's segments (2026-12-06): 0 km (a click every 3.7 pulses), 50 km,
    # dead time and afterpulses, Eve's beam splitting, two ranks.
    "bb84_0km_batch4e6_cascade": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade", "qkd.link.distance_km=0",
                                                           "qkd.pulses=8000000", "qkd.batch_pulses=4000000",
                                                           "qkd.block_pulses=8000000"], 1),
    "bb84_50km_batch1e7": ("bb84_decoy_50km.toml", ["qkd.batch_pulses=10000000"], 1),
    "bb84_5km_deadtime_afterpulse": ("bb84_decoy_50km.toml", ["qkd.link.distance_km=5", "qkd.link.dead_time_ps=20000",
                                                              "qkd.link.afterpulse_probability=0.05",
                                                              "qkd.pulses=4000000", "qkd.batch_pulses=2000000",
                                                              "qkd.block_pulses=4000000"], 1),
    "bb84_eve_beam_splitting": ("bb84_decoy_50km.toml", ['qkd.eve.attack="beam_splitting"', "qkd.eve.distance_km=10",
                                                         "qkd.link.distance_km=20", "qkd.pulses=4000000",
                                                         "qkd.block_pulses=4000000", "qkd.batch_pulses=2000000"], 1),
    "bb84_0km_batch4e6_2ranks": ("bb84_decoy_50km.toml", ["qkd.link.distance_km=0", "qkd.pulses=8000000",
                                                          "qkd.batch_pulses=4000000", "qkd.block_pulses=8000000"], 2),
    "bb84_pulses_10km_cascade": ("bb84_decoy_50km.toml", ['qkd.sampling="pulses"', "qkd.error_correction=cascade",
                                                          "qkd.link.distance_km=10", "qkd.pulses=4000000",
                                                          "qkd.block_pulses=4000000"], 1),
    # Blocks of 10,000 pulses (about 800 key bits), where Cascade leaves errors in a few (4 of 400 with these
    # seeds: the verification seed drawn and hashed), and BBM92 on two ranks (2026-12-06).
    "bb84_10km_small_blocks_cascade": ("bb84_decoy_50km.toml", ["qkd.error_correction=cascade",
                                                               "qkd.link.distance_km=10", "qkd.pulses=4000000",
                                                               "qkd.block_pulses=10000", "qkd.batch_pulses=10000"], 1),
    "bbm92_20km_cascade_2ranks": ("bbm92_20km.toml", ["qkd.error_correction=cascade", "qkd.block_pulses=5000000"], 2),
    # The pulse-by-pulse sampler drawn and folded a segment at a time (2026-12-06): dead time and afterpulses
    # carried across segments, batches that do not start on a byte or a segment, Eve, two ranks.
    "bb84_pulses_5km_deadtime_odd_batches": ("bb84_decoy_50km.toml", ['qkd.sampling="pulses"',
                                                                     "qkd.error_correction=cascade",
                                                                     "qkd.link.distance_km=5",
                                                                     "qkd.link.dead_time_ps=20000",
                                                                     "qkd.link.afterpulse_probability=0.05",
                                                                     "qkd.pulses=2100003", "qkd.batch_pulses=700001",
                                                                     "qkd.block_pulses=2100003"], 1),
    "bb84_pulses_eve_intercept_cascade": ("bb84_eve_intercept.toml", ['qkd.sampling="pulses"',
                                                                      "qkd.error_correction=cascade"], 1),
    "bb84_pulses_50km_2ranks": ("bb84_decoy_50km.toml", ['qkd.sampling="pulses"', "qkd.pulses=4000000",
                                                         "qkd.batch_pulses=1000000", "qkd.block_pulses=4000000"], 2),
}

#: ``[qkd.network]`` jobs, each run on 1, 2 and 4 ranks by ``run-network`` (2026-12-07, afternoon: the tallies
#: gathered on the writing rank alone): the example chain, a 64-node chain of one length with per_message tags, a
#: finite-key star of 16 nodes (its block_sizes table and a stop point per link), a 5-node BBM92 chain.
NETWORK_JOBS = {
    "qkd_trusted_chain": ("qkd_trusted_chain.toml", []),
    "chain64_per_message": ("qkd_trusted_chain.toml", ["qkd.network.num_nodes=64", "qkd.network.distances_km=",
                                                       "qkd.link.distance_km=30.0", "qkd.pulses=200000",
                                                       "qkd.batch_pulses=200000", 'qkd.authentication="per_message"']),
    "star16_finite_key": ("qkd_trusted_chain.toml", ["qkd.network=", 'qkd.network={topology="star", num_nodes=16}',
                                                     "qkd.link.distance_km=20.0", "qkd.pulses=200000",
                                                     "qkd.batch_pulses=100000", 'qkd.security="finite_key"']),
    "bbm92_chain5": ("bbm92_20km.toml", ['qkd.network={topology="chain", num_nodes=5}', "qkd.pulses=200000",
                                        "qkd.batch_pulses=100000", "qkd.block_pulses=200000"]),
}
#: Ranks each of :data:`NETWORK_JOBS` is run on.
NETWORK_RANKS = (1, 2, 4)

#: Attributes that differ between two runs of the same code.
VOLATILE = ("created_utc", "wall_time_s", "pulses_per_wall_second", "overrides", "overrides_from_job", "job_path",
            "engine_windows",
            "dqsim_commit")
#: Datasets (by last path component) that differ between two runs of the same code.
VOLATILE_DATASETS = ("timing",)


def run_jobs(tree: Path, out_dir: Path) -> None:
    """Run every job of :data:`JOBS` with ``tree``'s dqsim, writing ``out_dir/<name>.h5``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    python = sys.executable
    for name, (job, overrides, ranks) in JOBS.items():
        command = [python, "-m", "dqsim", "run", "-q", f"jobs/{job}", "-o", str(out_dir / f"{name}.h5")]
        for item in overrides:
            command += ["--set", item]
        if ranks > 1:
            command = [str(Path(python).parent / "mpiexec"), "-n", str(ranks), python, "-m", "mpi4py",
                       *command[1:]]
        print(name, flush=True)
        subprocess.run(command, cwd=tree, env=env, check=True)


def run_network_jobs(tree: Path, out_dir: Path, names: list[str]) -> None:
    """Run the jobs ``names`` of :data:`NETWORK_JOBS` (all of them if empty) on each of :data:`NETWORK_RANKS`
    with ``tree``'s dqsim, writing ``out_dir/<name>-<ranks>.h5``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    python = sys.executable
    for name, (job, overrides) in NETWORK_JOBS.items():
        if names and name not in names:
            continue
        for ranks in NETWORK_RANKS:
            command = [str(Path(python).parent / "mpiexec"), "-n", str(ranks), python, "-m", "mpi4py", "-m", "dqsim",
                       "run", "-q", f"jobs/{job}", "-o", str(out_dir / f"{name}-{ranks}.h5")]
            for item in overrides:
                command += ["--set", item]
            print(name, ranks, flush=True)
            subprocess.run(command, cwd=tree, env=env, check=True)


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.dtype != b.dtype or a.shape != b.shape:
            return False
        if a.dtype.hasobject:  # variable-length strings: by value (their bytes are pointers)
            return a.tolist() == b.tolist()
        return a.tobytes() == b.tobytes()
    return type(a) is type(b) and (a == b or (isinstance(a, float) and a != a and b != b))


def _contents(path: Path) -> tuple[dict, dict]:
    """``({dataset path: array}, {(object path, attribute): value})`` of an HDF5 file."""
    datasets, attrs = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            attrs.update({(name, key): value for key, value in obj.attrs.items() if key not in VOLATILE})
            if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] not in VOLATILE_DATASETS:
                datasets[name] = obj[()]
        attrs.update({("/", key): value for key, value in f.attrs.items() if key not in VOLATILE})
        f.visititems(visit)
    return datasets, attrs


def compare(a: Path, b: Path) -> list[str]:
    """The differences between two run files (empty when equal outside the volatile entries)."""
    data_a, attrs_a = _contents(a)
    data_b, attrs_b = _contents(b)
    diffs = [f"dataset {k} only in one file" for k in sorted(set(data_a) ^ set(data_b))]
    diffs += [f"attribute {k} only in one file" for k in sorted(set(attrs_a) ^ set(attrs_b), key=str)]
    for name in sorted(set(data_a) & set(data_b)):
        x, y = data_a[name], data_b[name]
        if isinstance(x, np.ndarray) and x.dtype.names:
            if x.dtype != y.dtype or x.shape != y.shape:
                diffs.append(f"table {name}: dtype or shape differ")
                continue
            diffs += [f"table {name} field {field}" for field in x.dtype.names if not _same(x[field], y[field])]
        elif not _same(x, y):
            diffs.append(f"dataset {name}")
    diffs += [f"attribute {k}: {attrs_a[k]!r} != {attrs_b[k]!r}" for k in sorted(set(attrs_a) & set(attrs_b), key=str)
              if not _same(attrs_a[k], attrs_b[k])]
    return diffs


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        run_jobs(Path(argv[1]).resolve(), Path(argv[2]).resolve())
        return 0
    if len(argv) >= 3 and argv[0] == "run-network":
        run_network_jobs(Path(argv[1]).resolve(), Path(argv[2]).resolve(), argv[3:])
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        bad = 0
        for path in sorted(Path(argv[1]).glob("*.h5")):
            other = Path(argv[2]) / path.name
            diffs = compare(path, other) if other.exists() else ["missing in " + argv[2]]
            datasets, attrs = _contents(path)
            fields = sum(len(v.dtype.names) if isinstance(v, np.ndarray) and v.dtype.names else 1
                         for v in datasets.values())
            print(f"{path.name}: {'EQUAL' if not diffs else 'DIFFERENT'} ({fields} dataset fields, "
                  f"{len(attrs)} attributes compared)" + "".join(f"\n  {d}" for d in diffs))
            bad += bool(diffs)
        return 1 if bad else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
