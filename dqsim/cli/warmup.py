"""``dqsim warmup [JOB ...] [--set ...] [--kernels GROUP ...]``: compile the numba kernels into numba's cache.

Run once after installing dqsim (or upgrading it), on the kind of machine the
ranks run on, before the first job: every rank then loads the kernels from the
cache (about 0.3 s) instead of compiling the same ones at once (seconds of CPU
each, and numba's processes race on the cache's index). With job files it
compiles the kernels those jobs call (their scenario and precision); without,
all of them (:data:`dqsim.scenarios.warmup.KERNEL_GROUPS`). The SLURM scripts
run it before ``srun`` starts the ranks.

A separate command, not a step of ``dqsim check``: ``check`` writes nothing and
runs in a second, often on a login node, whose CPU may differ from the compute
nodes' (numba's cache entries hold the CPU they were compiled for), while the
warm-up writes to the cache and takes seconds to a minute.

Prints one line per group of kernels (what, CPU seconds, compiled or loaded)
and a last line naming the cache folder. Exit status 0, or 2 (one
``dqsim: error:`` line) for a job file it refuses or a cache folder it cannot
write (``NUMBA_CACHE_DIR``: :func:`dqsim.backend.warmup.cache_problem`).
"""

from __future__ import annotations

import time

from dqsim import jobs
from dqsim.backend import fast
from dqsim.backend import warmup as backend_warmup
from dqsim.cli import print_error
from dqsim.errors import DqsimError, count_of
from dqsim.scenarios import warmup

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2


def chosen_groups(job_paths, overrides, kernels) -> list[str]:
    """The kernel groups to compile: those named by ``kernels``, plus those of each job (with the
    ``--set`` ``overrides``); all of them when neither is given.

    Raises:
        DqsimError: an unknown group, or a job file that does not load (one line).
    """
    names = []
    for name in kernels or []:
        if name not in warmup.KERNEL_GROUPS:
            raise DqsimError(f"--kernels {name}: not a group of kernels; allowed: "
                             f"{', '.join(warmup.KERNEL_GROUPS)}")
        names.append(name)
    for path in job_paths:
        job = jobs.load_job(path, list(overrides or ()))
        names += warmup.groups_for(job)
    if not job_paths and not kernels:
        names = list(warmup.KERNEL_GROUPS)
    return [name for name in warmup.KERNEL_GROUPS if name in names]


def cmd_warmup(args) -> int:
    """``dqsim warmup``: see the module docstring."""
    started = time.process_time()
    try:
        names = chosen_groups(args.job, args.set, args.kernels)
    except DqsimError as exc:
        print_error(str(exc))
        return EXIT_BAD_INPUT
    folder, how = backend_warmup.cache_location()
    if folder is None:
        print(f"dqsim warmup: nothing to compile: {how}", flush=True)
        return 0
    problem = backend_warmup.cache_problem()
    if problem is not None:
        print_error(problem)
        return EXIT_BAD_INPUT
    if not names:
        print("dqsim warmup: nothing to compile: the jobs call no numba kernels here (they run on a GPU, or "
              "their scenario has none)", flush=True)
        return 0
    if not fast.enabled():
        print("dqsim warmup: nothing to compile: DQSIM_FAST_KERNELS=0 turns the compiled kernels off", flush=True)
        return 0

    def on_group(index, group) -> None:
        print(f"dqsim warmup: [{index + 1}/{len(names)}] {group.description} ...", end="", flush=True)

    def on_done(_index, _group, seconds, loaded, compiled) -> None:
        print(f" {seconds:.1f} s CPU ({compiled} compiled, {loaded} loaded from the cache)", flush=True)

    loaded, compiled = warmup.warm_up(names, on_group, on_done)
    print(f"dqsim warmup: {count_of(compiled, 'kernel')} compiled and {loaded} loaded in "
          f"{time.process_time() - started:.1f} s CPU; numba's cache: {folder} ({how})", flush=True)
    return 0
