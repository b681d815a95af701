"""``dqsim warmup [JOB ...] [--set ...] [--kernels GROUP ...]``: compile the numba kernels into numba's cache,
and build the LDPC codes of the jobs into dqsim's.

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

A ``qkd`` job that reconciles with LDPC (``error_correction = "ldpc"``) also
gets its LDPC mother codes built (since 2026-12-07, later): 2-25 CPU s each,
which every rank of every run spent before (:func:`dqsim.protocols.qkd.ldpc.mother_code`).
They go to dqsim's disk cache (:func:`dqsim.caches.cache_folder`: ``DQSIM_CACHE_DIR``,
else ``$NUMBA_CACHE_DIR/dqsim``, else ``~/.cache/dqsim``), where the ranks load them;
since 2026-12-07 (afternoon) the codes are predicted from the job's links' physics without simulating
(:func:`dqsim.scenarios.qkd_codes.predicted_codes`: each block's expected key bits and QBER, and the codes that
some block of the run takes with probability above 1 % given the spread of its key bits and QBER estimate, since
2026-12-07 (afternoon); a rarer code is built by the block that takes it, then kept); since 2026-12-07 (late night)
the closed form covers every ``qkd`` job with LDPC (until then an SPDC source's BBM92/E91 link whose receivers have
a dead time or afterpulses, before 2026-12-07, night, any BBM92/E91 link with them, and until 2026-12-07, late
afternoon, BBM92/E91, Eve and afterpulses at all, ran its first key block of one link per distinct length here to
find them). Since 2026-12-07 (night), where building the predicted codes that the run would
not take is expected to cost more than drawing the run (:func:`dqsim.scenarios.warmup.should_draw`), the job is run
here with its reconciliation left out and exactly the codes its blocks take are built
(:func:`dqsim.scenarios.warmup.drawn_codes`; kept in the cache, where a second warm-up and ``dqsim check`` find
them): ``bb84_distance_sweep`` 8 codes for seed 1, where 30 are predicted. Unlike numba's kernels they do not depend on the CPU.

Prints one line per group of kernels (what, CPU seconds, compiled or loaded)
and a line naming numba's cache folder; then, for a job with LDPC codes, a line
per code (length, rate, seed; built or loaded, CPU seconds) and one naming
dqsim's cache folder. Exit status 0, or 2 (one ``dqsim: error:`` line) for a job
file it refuses or a cache folder it cannot write (``NUMBA_CACHE_DIR``:
:func:`dqsim.backend.warmup.cache_problem`; ``DQSIM_CACHE_DIR``: :func:`dqsim.caches.folder_problem`).
"""

from __future__ import annotations

import time

from dqsim import caches, jobs
from dqsim.backend import fast
from dqsim.backend import warmup as backend_warmup
from dqsim.cli import print_error
from dqsim.errors import DqsimError, count_of
from dqsim.scenarios import qkd_codes, warmup

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2


def chosen_jobs(job_paths, overrides) -> list:
    """The jobs of ``job_paths``, each with the ``--set`` ``overrides``.

    Raises:
        DqsimError: a job file that does not load (one line).
    """
    return [jobs.load_job(path, list(overrides or ())) for path in job_paths]


def chosen_groups(job_paths, overrides, kernels) -> list[str]:
    """The kernel groups to compile: those named by ``kernels``, plus those of each job (with the
    ``--set`` ``overrides``); all of them when neither is given.

    Raises:
        DqsimError: an unknown group, or a job file that does not load (one line).
    """
    return groups_of(chosen_jobs(job_paths, overrides), kernels)


def groups_of(loaded, kernels) -> list[str]:
    """:func:`chosen_groups` of the ``loaded`` jobs."""
    names = []
    for name in kernels or []:
        if name not in warmup.KERNEL_GROUPS:
            raise DqsimError(f"--kernels {name}: not a group of kernels; allowed: "
                             f"{', '.join(warmup.KERNEL_GROUPS)}")
        names.append(name)
    for job in loaded:
        names += warmup.groups_for(job)
    if not loaded and not kernels:
        names = list(warmup.KERNEL_GROUPS)
    return [name for name in warmup.KERNEL_GROUPS if name in names]


def compile_kernels(names) -> int | None:
    """Compile the kernel groups ``names`` into numba's cache, a line each; ``EXIT_BAD_INPUT`` where numba's cache
    cannot be written, else ``None``."""
    started = time.process_time()
    folder, how = backend_warmup.cache_location()
    if folder is None:
        print(f"dqsim warmup: nothing to compile: {how}", flush=True)
        return None
    problem = backend_warmup.cache_problem()
    if problem is not None:
        print_error(problem)
        return EXIT_BAD_INPUT
    if not names:
        print("dqsim warmup: nothing to compile: the jobs call no numba kernels here (they run on a GPU, or "
              "their scenario has none)", flush=True)
        return None
    if not fast.enabled():
        print("dqsim warmup: nothing to compile: DQSIM_FAST_KERNELS=0 turns the compiled kernels off", flush=True)
        return None

    def on_group(index, group) -> None:
        print(f"dqsim warmup: [{index + 1}/{len(names)}] {group.description} ...", end="", flush=True)

    def on_done(_index, _group, seconds, loaded, compiled) -> None:
        print(f" {seconds:.1f} s CPU ({compiled} compiled, {loaded} loaded from the cache)", flush=True)

    loaded, compiled = warmup.warm_up(names, on_group, on_done)
    print(f"dqsim warmup: {count_of(compiled, 'kernel')} compiled and {loaded} loaded in "
          f"{time.process_time() - started:.1f} s CPU; numba's cache: {folder} ({how})", flush=True)
    return None


def _note(line: str) -> None:
    """A note of the code builds (a draw that failed: :func:`dqsim.scenarios.warmup.build_ldpc_codes`)."""
    print(f"dqsim warmup: note: {line}", flush=True)


def build_codes(loaded, paths) -> int | None:
    """Build the LDPC codes of the ``loaded`` jobs (files ``paths``) into dqsim's cache, a line a code;
    ``EXIT_BAD_INPUT`` where that cache cannot be written, else ``None``."""
    with_codes = [(job, path) for job, path in zip(loaded, paths) if qkd_codes.reconciles_with_ldpc(job)]
    if not with_codes:
        return None
    folder = caches.cache_folder()
    if folder is None:
        print(f"dqsim warmup: no LDPC codes built: DQSIM_CACHE_DIR={caches.CACHE_OFF} keeps none on disk (each "
              f"process builds its own)", flush=True)
        return None
    problem = caches.folder_problem()
    if problem is not None:
        print_error(problem)
        return EXIT_BAD_INPUT
    count = 0
    for job, path in with_codes:
        print(f"dqsim warmup: LDPC codes of {path} (predicted from its links' physics) ...", flush=True)
        for key, how, seconds in warmup.build_ldpc_codes(job, _note):
            count += 1
            print(f"dqsim warmup:   {key['num_bits']:,} bits, rate {key['rate']:g}, seed {key['seed']}: "
                  f"{'built' if how == 'made' else 'loaded from the cache'} in {seconds:.1f} s CPU", flush=True)
    print(f"dqsim warmup: {count_of(count, 'LDPC code')} in dqsim's cache: {folder}", flush=True)
    return None


def cmd_warmup(args) -> int:
    """``dqsim warmup``: see the module docstring."""
    try:
        loaded = chosen_jobs(args.job, args.set)
        names = groups_of(loaded, args.kernels)
    except DqsimError as exc:
        print_error(str(exc))
        return EXIT_BAD_INPUT
    failed = compile_kernels(names)
    if failed is None:
        failed = build_codes(loaded, args.job)
    return failed or 0
