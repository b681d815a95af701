"""CPU seconds of the tests' 1-rank runs as a subprocess (what the tests ran until 2026-12-07, morning) against the
same run in this process (what they run since: ``mpi_helper.run_check_here``, ``run_here``, an example's ``main``).

Each case runs ``--repeat`` times each way, alternated (subprocess, then in process), so that the machine's load
hits both alike; a subprocess's CPU is its user + system time once waited for (``RUSAGE_CHILDREN``), an in-process
run's this process's (``time.process_time``). The first in-process run of a case pays the imports and kernel
loads it is the first to need (a test process has most of them already: the test module imported dqsim). Prints
per case the median and the first run of each way, and the 1-minute load before and after.

    PYTHONPATH=$PWD:$PWD/tests python bench/one_rank_in_process.py --repeat 2
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from mpi_helper import run_check_here, run_here, run_mpi  # noqa: E402

#: tests/test_process_errors.py's repeater job that runs out of restarts (status 2).
CUT_OFF = ('[run]\nname = "cut"\nscenario = "repeater"\nseed = 1\n'
           '[chain]\nnum_links = 2\ntotal_distance_km = 100.0\ncutoff_s = 0.0007\nmax_restarts = 0\nnum_pairs = 5\n'
           '[chain.link]\nscheme = "double_click"\n')


def _distill(rounds: int) -> None:
    spec = importlib.util.spec_from_file_location("distillation", ROOT / "examples" / "distillation.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with contextlib.redirect_stdout(io.StringIO()):
        example.main(rounds, 0.8)


def _repeater_here() -> None:
    from dqsim import backend, comm
    from mpi_scripts import repeater_check

    repeater_check.run_all(comm.SingleComm(), backend.select("numpy"), None)


def cases(folder: Path) -> dict:
    """``{name: (subprocess argv for run_mpi(1, ...), in-process callable)}``: the tests' 1-rank runs."""
    job = folder / "cut.toml"
    job.write_text(CUT_OFF)
    engine = ("engine_horizon_check", "measure_later_check", "quiet_wave_check", "engine_handback_check",
              "engine_run_past_check")
    dqc = [("dqc_check", "default"), ("dqc_dynamic_check", "default")]
    return {
        "test_repeater: repeater_check.py": (["tests/mpi_scripts/repeater_check.py", str(folder / "r.npz")],
                                             _repeater_here),
        "test_engine: five timeline checks": (
            ["tests/mpi_scripts/run_checks.py", *(a for n in engine for a in (n, str(folder / f"{n}.npz")))],
            lambda: [run_check_here(n, str(folder / f"{n}.npz")) for n in engine]),
        "test_dqc_mpi: dqc_check + dqc_dynamic_check": (
            ["tests/mpi_scripts/run_checks.py", *(a for n, p in dqc for a in (f"{n}+{p}", str(folder / f"{n}.npz")))],
            lambda: [run_check_here(n, str(folder / f"{n}.npz"), [p]) for n, p in dqc]),
        "test_herald_over_link: herald_link_check.py": (
            ["tests/mpi_scripts/herald_link_check.py", str(folder / "h.npz"), "default"],
            lambda: run_check_here("herald_link_check", str(folder / "h.npz"), ["default"])),
        "test_trotter: trotter_check.py": (
            ["tests/mpi_scripts/trotter_check.py", str(folder / "t.npz"), "default,continued"],
            lambda: run_check_here("trotter_check", str(folder / "t.npz"), "default,continued")),
        "test_many_shots: many_shots_check.py": (["tests/mpi_scripts/many_shots_check.py", str(folder / "m.npz")],
                                                 lambda: run_check_here("many_shots_check", str(folder / "m.npz"))),
        "test_state_mpi: state_check.py": (["tests/mpi_scripts/state_check.py", str(folder / "s.npz")],
                                           lambda: run_check_here("state_check", str(folder / "s.npz"))),
        "test_process_errors: dqsim run (status 2)": (
            ["-m", "dqsim", "run", str(job), "-o", str(folder / "c.h5"), "-q"],
            lambda: run_here(["run", str(job), "-o", str(folder / "c.h5"), "-q"], check=False)),
        "test_programs: distillation.py 450 rounds": (["examples/distillation.py", "450", "0.8"],
                                                      lambda: _distill(450)),
        "test_programs: distillation.py 40 rounds": (["examples/distillation.py", "40", "0.8"],
                                                     lambda: _distill(40)),
    }


def subprocess_cpu(argv: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_mpi(1, argv, timeout_s=600, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def here_cpu(call) -> float:
    start = time.process_time()
    call()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default="", help="run the cases whose name holds this text")
    options = parser.parse_args()
    os.chdir(ROOT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # run_here needs Python's own (a background job's is ignored)
    print(f"load before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        total_sub = total_here = 0.0
        for name, (argv, call) in cases(Path(tmp)).items():
            if options.only not in name:
                continue
            sub, here = [], []
            for _ in range(options.repeat):
                sub.append(subprocess_cpu(argv))
                here.append(here_cpu(call))
            total_sub += statistics.median(sub)
            total_here += statistics.median(here)
            print(f"{name:48s} subprocess {statistics.median(sub):6.2f} s (first {sub[0]:5.2f})   "
                  f"in process {statistics.median(here):6.2f} s (first {here[0]:5.2f})   load {os.getloadavg()[0]:.1f}",
                  flush=True)
        print(f"{'sum of medians':48s} subprocess {total_sub:6.2f} s                in process {total_here:6.2f} s")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
