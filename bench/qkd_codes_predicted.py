"""The LDPC codes ``dqsim warmup`` predicts from a job's link physics against those its run builds, and warmup's CPU.

``--compare``: for each job (example jobs under jobs/ with ``error_correction = "ldpc"``), run it on this process
(``DQSIM_CACHE_DIR=off``: every code is built, nothing written) and list the codes its blocks took
(:func:`dqsim.caches.recorded_stores`) against :func:`dqsim.scenarios.qkd_codes.predicted_codes`.
``--warmup``: ``dqsim warmup JOB`` CPU seconds with the codes predicted (this branch) and with the pilot block (the
code before 2026-12-07, afternoon, and for BBM92/E91 and Eve before 2026-12-07, late afternoon:
:func:`dqsim.scenarios.warmup.ldpc_pilot_job` run; ``--warmup-jobs`` picks the jobs), each in a fresh process, on a
cold cache (a new temporary folder) then a warm one (the same folder again), alternated job by job.

``--box-warmup``: a cold ``dqsim warmup``'s code step (CPU s) of the sweep with the codes predicted by probability
(this code, since 2026-12-07, afternoon) against the box of ±3σ before it (``qkd_codes.py`` of git revision
``--box-from``, main by default, loaded from ``git show``), each in a fresh process on a new temporary cache folder.

    .venv/bin/python bench/qkd_codes_predicted.py --compare
    .venv/bin/python bench/qkd_codes_predicted.py --warmup --repeats 2
    .venv/bin/python bench/qkd_codes_predicted.py --warmup --warmup-jobs bbm92 e91 bbm92-eve bb84-eve --repeats 1
    .venv/bin/python bench/qkd_codes_predicted.py --box-warmup --repeats 1

``--seeds N`` (since 2026-12-07, night): seeds 1..N of ``--seed-jobs`` (the sweep by default): the closed form's
predicted codes, the codes ``dqsim warmup`` draws (the run with its reconciliation left out,
:func:`dqsim.scenarios.warmup.drawn_codes`) and those a real run builds. ``--draw-warmup [JOB ...]``: the code
step cold then warm, the closed form's codes (``should_draw`` patched to never: the code before) against this
branch's, alternated, a fresh process and a new temporary cache folder each.

    .venv/bin/python bench/qkd_codes_predicted.py --seeds 3
    .venv/bin/python bench/qkd_codes_predicted.py --draw-warmup sweep 50km --repeats 2
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

LDPC = ["--set", 'qkd.error_correction="ldpc"']
#: (name, job file and --set overrides): the example jobs with LDPC reconciliation.
JOBS = {
    "50km-small": ["jobs/bb84_decoy_50km.toml", *LDPC, "--set", "qkd.pulses=1000000", "--set",
                   "qkd.batch_pulses=500000", "--set", "qkd.block_pulses=500000"],
    "50km-chain4": ["jobs/bb84_decoy_50km.toml", *LDPC, "--set", "qkd.pulses=1000000", "--set",
                    "qkd.batch_pulses=500000", "--set", "qkd.block_pulses=500000", "--set",
                    'qkd.network={topology="chain", num_nodes=5}'],
    "50km": ["jobs/bb84_decoy_50km.toml", *LDPC],
    "trusted-chain": ["jobs/qkd_trusted_chain.toml", *LDPC],
    "raman": ["jobs/bb84_raman_coexistence.toml", *LDPC],
    "sweep": ["jobs/bb84_distance_sweep.toml", *LDPC],
    "bbm92": ["jobs/bbm92_20km.toml", *LDPC],
    "e91": ["jobs/e91_chsh.toml", *LDPC],
    "bbm92-eve": ["jobs/bbm92_eve_intercept.toml", *LDPC],
    "bb84-eve": ["jobs/bb84_eve_intercept.toml", *LDPC],
}
#: The jobs --warmup times by default (``--warmup-jobs`` others).
WARMUP_JOBS = ("50km", "trusted-chain")


def _job(args):
    from dqsim import jobs
    return jobs.load_job(args[0], [each for each in args[1:] if each != "--set"])


def actual_codes(args) -> list[tuple[int, float]]:
    """The codes a run of the job builds (on this process, nothing written)."""
    from dqsim import caches
    from dqsim import comm as comm_mod
    from dqsim.backend import select
    from dqsim.protocols.qkd import ldpc
    from dqsim.scenarios.registry import run_job
    ldpc.mother_code.cache_clear()
    with caches.recorded_stores() as done:
        run_job(_job(args), comm=comm_mod.SingleComm(), backend=select("numpy"))
    return sorted({(key["num_bits"], key["rate"]) for kind, key, _how, _s in done if kind == ldpc.CODE_CACHE_KIND},
                  reverse=True)


def compare(names) -> int:
    from dqsim.scenarios import qkd_codes
    missed = 0
    print("| job | predicted (bits, rate) | run built | run CPU s | all in predicted |")
    print("|---|---|---|---|---|")
    for name in names:
        os.environ["DQSIM_CACHE_DIR"] = "off"
        predicted = qkd_codes.predicted_codes(_job(JOBS[name]))
        start = time.process_time()
        actual = actual_codes(JOBS[name])
        ok = predicted is not None and set(actual) <= set(predicted)
        missed += not ok
        print(f"| {name} | {predicted} | {actual} | {time.process_time() - start:.1f} | {'yes' if ok else 'NO'} |",
              flush=True)
    return missed


#: Run in a fresh process: ``dqsim warmup`` of a job's codes only (kernels are compiled before, once), the pilot's
#: way where argv[1] is "pilot"; prints its CPU seconds.
CHILD = """
import sys, time
from dqsim import jobs
from dqsim.scenarios import qkd_codes, warmup
if sys.argv[1] == "pilot":          # the code before: the pilot block always (build_ldpc_codes ran it until 2026-12-07)
    from dqsim import caches, comm
    from dqsim.backend import select
    from dqsim.protocols.qkd import ldpc
    from dqsim.scenarios.registry import run_job

    def pilot_codes(job, _note=None):
        with caches.recorded_stores() as done:
            run_job(warmup.ldpc_pilot_job(job), comm=comm.SingleComm(), backend=select("numpy"))
        return [(key, how, s) for kind, key, how, s in done if kind == ldpc.CODE_CACHE_KIND]
    warmup.build_ldpc_codes = pilot_codes
elif sys.argv[1] == "closed-form":                        # before 2026-12-07 (night): the predicted codes, never drawn
    warmup.should_draw = lambda job, predicted: False
elif sys.argv[1].startswith("box="):                      # the box of ±3σ: an older qkd_codes.py, loaded
    import importlib.util
    spec = importlib.util.spec_from_file_location("box_codes", sys.argv[1][4:])
    box = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(box)
    qkd_codes.predicted_codes = box.predicted_codes
args = sys.argv[2:]
job = jobs.load_job(args[0], [a for a in args[1:] if a != "--set"])
start = time.process_time()
done = warmup.build_ldpc_codes(job)
print(f"{time.process_time() - start:.2f} {len(done)} {sum(how == 'made' for _k, how, _s in done)}")
"""


def warm(way: str, args, folder: str) -> tuple[float, int, int]:
    env = dict(os.environ, DQSIM_CACHE_DIR=folder)
    out = subprocess.run([sys.executable, "-c", CHILD, way, *args], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def warmup_times(repeats: int, names=WARMUP_JOBS, ways=("pilot", "predicted")) -> None:
    """The code step of each job cold then warm, the two ``ways`` (:data:`CHILD`'s first argument; ``"drawn"`` is
    this tree's own, ``"predicted"``) alternated, with the cold one's wall time and the load after it."""
    print("| job | way | repeat | cold CPU s (codes, built) | warm CPU s (codes, built) | wall s cold | load |")
    print("|---|---|---|---|---|---|---|")
    for repeat in range(repeats):
        for name in names:
            for way in ways if repeat % 2 == 0 else ways[::-1]:
                child = "predicted" if way == "drawn" else way
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    cold = warm(child, JOBS[name], folder)
                    wall = time.perf_counter() - start
                    hot = warm(child, JOBS[name], folder)
                print(f"| {name} | {way} | {repeat} | {cold[0]:.2f} ({cold[1]}, {cold[2]}) | "
                      f"{hot[0]:.2f} ({hot[1]}, {hot[2]}) | {wall:.0f} | {os.getloadavg()[0]:.1f} |", flush=True)


def box_warmup_times(repeats: int, revision: str) -> None:
    """Cold code steps of the sweep: the box's way (``qkd_codes.py`` at ``revision``) and this one's, alternated."""
    text = subprocess.run(["git", "show", f"{revision}:dqsim/scenarios/qkd_codes.py"], capture_output=True,
                          text=True, check=True).stdout
    print("| job | way | repeat | cold CPU s (codes, built) | wall s |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        box_file = os.path.join(scratch, "box_codes.py")
        with open(box_file, "w") as out:
            out.write(text)
        for repeat in range(repeats):
            ways = (f"box={box_file}", "predicted") if repeat % 2 == 0 else ("predicted", f"box={box_file}")
            for way in ways:
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    cold = warm(way, JOBS["sweep"], folder)
                name = f"box ({revision})" if way.startswith("box=") else "probability"
                print(f"| sweep | {name} | {repeat} | {cold[0]:.2f} ({cold[1]}, {cold[2]}) | "
                      f"{time.perf_counter() - start:.1f} |", flush=True)


def seeds_compare(seeds: int, names=("sweep",)) -> int:
    """Per seed: the closed form's predicted codes, the codes drawn (``scenarios.warmup.drawn_codes``: the run with
    its reconciliation left out) and those a real run builds (``DQSIM_CACHE_DIR=off``)."""
    from dqsim import jobs
    from dqsim.scenarios import qkd_codes, warmup
    os.environ["DQSIM_CACHE_DIR"] = "off"
    wrong = 0
    print("| job | seed | predicted (closed form) | drawn (CPU s) | run built (CPU s) | drawn = built | built ⊆ predicted |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for seed in range(1, seeds + 1):
            args = [*JOBS[name], "--set", f"run.seed={seed}"]
            job = _job(args)
            predicted = qkd_codes.predicted_codes(job)
            start = time.process_time()
            drawn = warmup.drawn_codes(job)
            drew = time.process_time() - start
            start = time.process_time()
            built = actual_codes(args)
            ran = time.process_time() - start
            same, inside = set(drawn) == set(built), set(built) <= set(predicted)
            wrong += not same
            print(f"| {name} | {seed} | {len(predicted)} | {len(drawn)} ({drew:.2f}) | {len(built)} ({ran:.1f}): "
                  f"{built} | {'yes' if same else 'NO'} | {'yes' if inside else 'no'} |", flush=True)
    return wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", nargs="*", metavar="JOB", help=f"jobs to compare (default: all of {list(JOBS)})")
    parser.add_argument("--warmup", action="store_true")
    parser.add_argument("--warmup-jobs", nargs="*", default=list(WARMUP_JOBS), choices=list(JOBS),
                        help=f"jobs --warmup times (default: {list(WARMUP_JOBS)})")
    parser.add_argument("--box-warmup", action="store_true")
    parser.add_argument("--box-from", default="main", help="git revision of the box's qkd_codes.py (default main)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=0, help="--seeds N: seeds 1..N of --seed-jobs, drawn against built")
    parser.add_argument("--seed-jobs", nargs="*", default=["sweep"], choices=list(JOBS))
    parser.add_argument("--draw-warmup", nargs="*", choices=list(JOBS), metavar="JOB",
                        help="warm-up's code step, closed form against drawn (default: sweep and 50km)")
    args = parser.parse_args()
    print(f"# load average {os.getloadavg()[0]:.1f}", flush=True)
    missed = 0
    if args.compare is not None:
        missed = compare(args.compare or list(JOBS))
    if args.warmup:
        warmup_times(args.repeats, args.warmup_jobs)
    if args.box_warmup:
        box_warmup_times(args.repeats, args.box_from)
    if args.seeds:
        missed += seeds_compare(args.seeds, args.seed_jobs)
    if args.draw_warmup is not None:
        warmup_times(args.repeats, args.draw_warmup or ["sweep", "50km"], ("closed-form", "drawn"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
