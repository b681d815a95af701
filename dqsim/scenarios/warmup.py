"""Which numba kernels a job's run calls, and compiling them into numba's cache from one process.

The kernels come in groups (:data:`KERNEL_GROUPS`): the state-vector kernels
in each precision (every kernel of :class:`dqsim.backend.fast.NumbaKernels`
and the in-place exchange, :func:`dqsim.backend.warmup.compile_state_kernels`),
and the QKD kernels (the detection sampler's and Cascade's of
:mod:`dqsim.backend.qkd_kernels`, compiled by running a small QKD job,
:data:`QKD_WARM_UP_JOB`, through the scenario: the very calls a QKD run makes).
A scenario's groups are the ``kernels`` column of
:data:`dqsim.scenarios.registry.SCENARIOS`; :func:`groups_for` adds the job's
precision and leaves everything out for a job that runs on a GPU (CuPy's
kernels, not numba's). Measured on the dev VM (2026-12-05, one process, empty
cache): ``bench/results/warmup-vm-20261205.md``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dqsim import backend as backend_mod
from dqsim import caches
from dqsim import comm as comm_mod
from dqsim import jobs
from dqsim.backend import warmup as backend_warmup
from dqsim.protocols.qkd import ldpc
from dqsim.scenarios import qkd_codes
from dqsim.scenarios.registry import SCENARIOS, run_job

#: A small BB84 job with decoys, Cascade and Eve on a tenth of the pulses: its run calls every QKD kernel
#: (the detection chain, the clicks, the counts table, the SFC64 uniforms, Cascade) once. Cascade's sequential
#: order (``[qkd].cascade_order``) runs in the same compiled kernel (an argument), so it is warm too.
QKD_WARM_UP_JOB = """\
[run]
name = "dqsim_warmup_qkd"
scenario = "qkd"
seed = 1
backend = "numpy"

[qkd]
protocol = "bb84_decoy"
pulses = 200_000
batch_pulses = 100_000
block_pulses = 200_000
error_correction = "cascade"

[qkd.link]
distance_km = 5.0
misalignment = 0.02
"""


def compile_qkd_kernels() -> None:
    """Compile (or load) the QKD kernels by running :data:`QKD_WARM_UP_JOB` on this process alone (nothing is
    written), and privacy amplification's carry-less product and the verification hash's rows, which a run
    calls only for a block whose reconciled keys still differ (:func:`dqsim.backend.warmup.compile_carryless_product`,
    :func:`dqsim.backend.warmup.compile_toeplitz_rows`), and LDPC's min-sum decoder
    (:func:`dqsim.backend.warmup.compile_sum_product`)."""
    job = jobs.load_job_text(QKD_WARM_UP_JOB, source="<dqsim warmup: qkd>")
    run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
    backend_warmup.compile_carryless_product()
    backend_warmup.compile_toeplitz_rows()
    backend_warmup.compile_sum_product()


@dataclass(frozen=True)
class KernelGroup:
    """Kernels compiled together: ``compile()`` calls each of them once."""

    name: str
    description: str
    compile: Callable[[], None]


#: Group name -> :class:`KernelGroup`, in the order ``dqsim warmup`` compiles them.
KERNEL_GROUPS: dict[str, KernelGroup] = {group.name: group for group in (
    KernelGroup("state-complex128", "state-vector kernels, complex128",
                lambda: backend_warmup.compile_state_kernels("complex128")),
    KernelGroup("state-complex64", "state-vector kernels, complex64",
                lambda: backend_warmup.compile_state_kernels("complex64")),
    KernelGroup("qkd", "QKD detection and Cascade kernels", compile_qkd_kernels),
)}


def groups_for(job) -> list[str]:
    """The :data:`KERNEL_GROUPS` a run of ``job`` calls on this machine: its scenario's ``kernels``
    (``state`` in the job's precision); none where it runs on a GPU (``[run].backend``, ``auto`` as
    :func:`dqsim.backend.resolve_name` resolves it here)."""
    if backend_mod.resolve_name(job.run.backend) != "numpy":
        return []
    return [f"state-{job.run.precision}" if family == "state" else family
            for family in SCENARIOS[job.scenario].kernels]


#: The element types of a state shard in each precision, as the kernels' first argument takes it (a complex
#: shard, or its view as real and imaginary parts).
_SHARD_DTYPES = {"state-complex128": ("complex128", "float64"), "state-complex64": ("complex64", "float32")}


def cold_groups(job) -> list[str]:
    """The :func:`groups_for` ``job`` of which numba's cache holds no kernel version this process could load
    (:func:`dqsim.backend.warmup.cached_versions`): a run, or ``dqsim check``'s pilot, would compile them first
    (some 6-30 s of CPU each on the dev VM, bench/results/warmup-vm-20261205.md; about 120 s of wall time at a
    load of 17, docs/review-research-20261206.md). A state group counts as cached where any state kernel
    (:mod:`dqsim.backend.fast`) has a version for a shard of its precision, ``qkd`` where any
    :mod:`dqsim.backend.qkd_kernels` kernel has one: a cache that a run filled in part is not cold. None where
    the compiled kernels are off (``DQSIM_FAST_KERNELS=0``) or numba is missing."""
    names = groups_for(job)
    if not names or backend_warmup.fast.numba_kernels() is None:
        return []
    versions = backend_warmup.cached_versions()
    cold = []
    for name in names:
        if name in _SHARD_DTYPES:
            cached = any(str(getattr(signature[0], "dtype", "")) in _SHARD_DTYPES[name]
                         for kernel, signatures in versions.items() if kernel.startswith("fast.")
                         for signature in signatures if signature)
        else:
            cached = any(signatures for kernel, signatures in versions.items() if kernel.startswith("qkd_kernels."))
        if not cached:
            cold.append(name)
    return cold


def warm_up(names, on_group: Callable[[int, KernelGroup], None] | None = None,
            on_done: Callable[[int, KernelGroup, float, int, int], None] | None = None) -> tuple[int, int]:
    """Compile the :data:`KERNEL_GROUPS` named, in table order, each once; returns ``(loaded, compiled)``
    kernel versions (from numba's cache, compiled and written to it).

    ``on_group(index, group)`` is called before a group, ``on_done(index, group, seconds, loaded,
    compiled)`` after it (CPU seconds of this process).

    Raises:
        KeyError: an unknown group name (the caller checks names against :data:`KERNEL_GROUPS`).
    """
    chosen = [KERNEL_GROUPS[name] for name in KERNEL_GROUPS if name in set(names)]
    unknown = set(names) - set(KERNEL_GROUPS)
    if unknown:
        raise KeyError(sorted(unknown)[0])
    before = backend_warmup.cache_counts()
    for index, group in enumerate(chosen):
        if on_group is not None:
            on_group(index, group)
        start, counts = time.process_time(), backend_warmup.cache_counts()
        group.compile()
        after = backend_warmup.cache_counts()
        if on_done is not None:
            on_done(index, group, time.process_time() - start, after[0] - counts[0], after[1] - counts[1])
    after = backend_warmup.cache_counts()
    return after[0] - before[0], after[1] - before[1]


def ldpc_pilot_job(job):
    """The job whose run builds the LDPC mother codes a run of ``job`` takes: its first key block (``[qkd].pulses``
    cut to one block) of one link per distinct distance (a sweep's distances without repeats; a network cut to as
    many links as it has distinct lengths, in the order they first come, its topology kept), run as the job runs
    it; ``None`` for a job that reconciles without LDPC (or is not ``qkd``).

    A block's codes follow from its key bits and its QBER estimate (:func:`dqsim.protocols.qkd.ldpc.frame_plan`;
    the codes are keyed by the run's seed, the length and the rate, :func:`dqsim.protocols.qkd.ldpc.code_key`),
    and a link's physics from its length alone (:func:`dqsim.scenarios.qkd.link_physics`: every other parameter
    is the job's, for every link), so links of one length share their codes up to the estimate's noise: the
    pilot's codes are the run's, but for a block whose estimate crosses into another mother code (its first one
    builds that code, which the disk cache then keeps for the next run). That noise can part
    links of one length too: the first blocks of a 4-link chain at 50 km take the rate-0.8 and 0.85 codes of 8,192
    bits, its one-link pilot the 0.85 one (tests/test_ldpc_code_cache.py); the pilot was every link's first block
    before 2026-12-07 (later), 65,535 blocks on one process for a 65,536-node chain.

    Examples:
        >>> job = jobs.apply_overrides(jobs.load_job("jobs/bb84_decoy_50km.toml"), [
        ...     'qkd.error_correction="ldpc"', 'qkd.network={topology="chain", num_nodes=5}',
        ...     "qkd.network.distances_km=[10, 20, 10, 20]"])
        >>> pilot = ldpc_pilot_job(job).qkd.network
        >>> pilot.topology, pilot.num_nodes, pilot.distances_km
        ('chain', 3, [10.0, 20.0])
    """
    if not qkd_codes.reconciles_with_ldpc(job):
        return None
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    changes = []
    if block < q.pulses:
        changes += [f"qkd.pulses={block}", f"qkd.batch_pulses={min(q.batch_pulses, block)}",
                    f"qkd.block_pulses={block}"]
    distinct = list(dict.fromkeys(float(d) for d in q.distances_km()))
    if q.sweep is not None and len(distinct) < len(q.sweep.distances_km):
        changes.append(f"qkd.sweep.distances_km={_toml_list(distinct)}")
    if q.network is not None and len(distinct) < q.network.num_nodes - 1:
        changes.append(f"qkd.network.num_nodes={len(distinct) + 1}")
        if q.network.distances_km is not None:
            changes.append(f"qkd.network.distances_km={_toml_list(distinct)}")
    return jobs.apply_overrides(job, changes) if changes else job


def _toml_list(values: list[float]) -> str:
    """``values`` as a TOML array of floats (``repr``: every float read back as it was)."""
    return "[" + ", ".join(repr(v) for v in values) + "]"


#: CPU seconds a run of a ``qkd`` job with its reconciliation left out (:func:`drawn_codes`) takes per pulse (pair
#: slot) of each link, BB84 with decoys and BBM92/E91, and once (:func:`draw_seconds`): dev VM at a load of ~12,
#: 2026-12-07 (night), the densest BB84 link (0 km, 1.3 clicks in 10 pulses: 0.12-0.13 s for 5 million pulses; a
#: 200 km one took 0.007 s) and bbm92_20km (3.8 s for 10 million pair slots); bench/results/qkdent2-vm-20261207r.md.
DRAW_SECONDS_PER_PULSE = {"bb84_decoy": 3e-8, "entangled": 4e-7}
#: CPU seconds of a draw beside its pulses (the scenario's imports and kernels' loading: ~0.7 s).
DRAW_FIXED_SECONDS = 1.0
#: CPU seconds of a draw a link (each sweep point's), beside its pulses: the network's nodes, processes, events and
#: tables of each link. A ``[qkd.network]`` BB84 chain with LDPC, 1,000 pulses a link, 5-44 km: 2,048 nodes took
#: 17.2 CPU s and 329 MB RSS (review4, dev VM at load ~8; 1.06 s estimated without this term), 0.55, 2.15 and
#: 5.86 CPU s at 64, 512 and 2,048 nodes in one run at load ~10 (0.0027 s a link,
#: ``bench/results/draw_cost_per_link-vm-20261207r.md``); the dearer figure is taken, as an estimate too low
#: draws where building the predicted codes was cheaper.
DRAW_SECONDS_PER_LINK = 0.008


def draw_seconds(job) -> float:
    """Estimated CPU seconds of :func:`drawn_codes` for ``job``: its links, every sweep point's, each
    :data:`DRAW_SECONDS_PER_LINK` (since 2026-12-07 (night)) plus its pulses times
    :data:`DRAW_SECONDS_PER_PULSE`, and :data:`DRAW_FIXED_SECONDS`."""
    per_pulse = DRAW_SECONDS_PER_PULSE["bb84_decoy" if job.qkd.protocol == "bb84_decoy" else "entangled"]
    links = sum(qkd_codes.link_counts(job).values())
    return DRAW_FIXED_SECONDS + (DRAW_SECONDS_PER_LINK + per_pulse * job.qkd.pulses) * links


#: Bytes a draw (:func:`drawn_codes`) holds per pulse (pair slot) of a batch, above the process after its imports:
#: BB84 with decoys (its sampler works in chunks: 0.7, 1.0, 3.3 MB at batches of 0.25, 1 and 4 million pulses), one
#: pair a slot (31 and 123 MB at 0.25 and 1 million) and an SPDC source (198 MB at 1 million: its 4 more uniforms a
#: slot and the pair numbers); peak resident set's growth, dev VM, 2026-12-07 (late night),
#: ``bench/results/qkdspdc-vm-20261207s.md`` (tracemalloc's peak 1-3 % below it).
DRAW_BYTES_PER_BATCH_PULSE = {"bb84_decoy": 1.0, "one_pair": 125.0, "spdc": 200.0}
#: Bytes a draw holds per link (each sweep point's), beside its pulses: a BB84 chain of 64 and 256 links, 20,000
#: pulses each, grew the peak resident set by 4.5 and 15.4 MB (tracemalloc: 1.6 and 5.5 MB), ~57 KB a link.
DRAW_BYTES_PER_LINK = 60_000.0
#: Bytes of a draw beside its links and pulses (the smallest measured, 0.7 MB, rounded up).
DRAW_FIXED_BYTES = 1_000_000.0


def draw_memory_bytes(job) -> int:
    """Estimated peak bytes :func:`drawn_codes` adds to this process for ``job`` (since 2026-12-07, late night): its
    links (every sweep point's) times :data:`DRAW_BYTES_PER_LINK`, plus its batch's pulses
    (``min(batch_pulses, pulses)``, one batch held at a time) times :data:`DRAW_BYTES_PER_BATCH_PULSE` of its
    source, plus :data:`DRAW_FIXED_BYTES`: 1.01-1.11 times the measured growth of the peak resident set from 4 MB up
    (BBM92 batches of 0.25-4 million pair slots, BB84 chains of 64-1,024 links), 1.5-2.1 times BB84's smaller ones
    (``bench/draw_memory.py``); the key blocks' buffers (a few bytes a key bit) are left out.

    Examples:
        >>> job = jobs.apply_overrides(jobs.load_job("jobs/bbm92_20km.toml"), ['qkd.error_correction="ldpc"'])
        >>> round(draw_memory_bytes(job) / 1e6)                        # batches of 1 million pair slots
        126
    """
    q = job.qkd
    kind = ("bb84_decoy" if q.protocol == "bb84_decoy" else "one_pair" if q.source.mean_pair_number is None
            else "spdc")
    links = sum(qkd_codes.link_counts(job).values())
    return int(DRAW_FIXED_BYTES + DRAW_BYTES_PER_LINK * links
               + DRAW_BYTES_PER_BATCH_PULSE[kind] * min(q.batch_pulses, q.pulses))


#: Share of the host's available memory (:func:`dqsim.backend.host_available_bytes`) a draw may be expected to take
#: (:func:`_draw_fits`): the rest is left to the code builds and to other processes.
DRAW_MEMORY_SHARE = 0.5


def drawn_codes(job) -> list[tuple[int, float]]:
    """The LDPC mother codes a run of ``job`` takes, exactly: the job run on this process with every block's
    reconciliation left out (:func:`dqsim.protocols.qkd.ldpc.recorded_choices`: a block's key bits, sample and
    estimate are the run's, drawn from the same streams, and its code is the one the reconciler would take;
    nothing written), longest first; kept in dqsim's disk cache
    (:data:`dqsim.scenarios.qkd_codes.DRAWN_CODES_KIND`, keyed by :func:`dqsim.scenarios.qkd_codes.drawn_key`),
    where a second warm-up and ``dqsim check`` find them."""
    def draw() -> dict:
        with ldpc.recorded_choices() as chosen:
            run_job(job, comm=comm_mod.SingleComm(), backend=backend_mod.select("numpy"))
        codes = sorted(set(chosen), reverse=True)
        return {"bits": np.array([bits for bits, _r in codes], dtype=np.int64),
                "rates": np.array([rate for _b, rate in codes], dtype=float)}
    found = caches.stored_arrays(qkd_codes.DRAWN_CODES_KIND, qkd_codes.drawn_key(job), draw)
    return [(int(bits), float(rate)) for bits, rate in zip(found["bits"].tolist(), found["rates"].tolist())]


def should_draw(job, predicted) -> bool:
    """Whether :func:`build_ldpc_codes` draws ``job``'s codes (:func:`drawn_codes`) rather than build the
    ``predicted`` ones: where they are already kept, or where the builds of the predicted codes not yet cached that
    the run would not take are expected to cost more than the draw, ``Σ build_seconds(c)·(1 - P(c)) > draw_seconds``
    (P from :func:`dqsim.scenarios.qkd_codes.code_probabilities`, :func:`dqsim.protocols.qkd.ldpc.build_seconds`,
    :func:`draw_seconds`). ``bb84_distance_sweep``: ~29 CPU s of such builds against a draw of ~2.4 (0.34
    measured)."""
    if qkd_codes.kept_drawn_codes(job) is not None:
        return True
    folder = caches.cache_folder()
    chances = qkd_codes.code_probabilities(job)
    waste = sum(ldpc.build_seconds(bits, rate) * (1.0 - chances[(bits, rate)]) for bits, rate in predicted
                if folder is None or not caches.entry_path(folder, ldpc.CODE_CACHE_KIND,
                                                           ldpc.code_key(job.run.seed, bits, rate)).is_file())
    return waste > draw_seconds(job)


def build_ldpc_codes(job, note: Callable[[str], None] | None = None) -> list[tuple[dict, str, float]]:
    """Build (or load) the LDPC mother codes of ``job`` into dqsim's disk cache (:func:`dqsim.caches.stored_arrays`):
    those predicted from its links' physics (:func:`dqsim.scenarios.qkd_codes.predicted_codes`, since 2026-12-07,
    afternoon: nothing is simulated), or, since 2026-12-07 (night), where :func:`should_draw` finds the predicted
    codes that the run would not take dearer to build than the run's own draws, the run's codes exactly
    (:func:`drawn_codes`: its blocks drawn, none reconciled); until 2026-12-07 (late night), where the closed form
    did not cover the job (an SPDC source's BBM92/E91 link with a dead time or afterpulses, the last case), those of
    :func:`ldpc_pilot_job` ran on this process; ``[(code key, "made" | "loaded", CPU seconds)]`` of each code not
    already built in this process (:func:`dqsim.protocols.qkd.ldpc.code_key`). Empty for a job without LDPC. A
    draw that raises (an error the run itself would give, or lack of memory) leaves the predicted codes to build,
    with one line to ``note`` (``None``: standard error) saying why (since 2026-12-07 (night); before, the warm-up
    failed), and so, since 2026-12-07 (late night), does a draw whose memory is expected above
    :data:`DRAW_MEMORY_SHARE` of the host's available memory (:func:`_draw_fits`, :func:`draw_memory_bytes`)."""
    predicted = qkd_codes.predicted_codes(job)
    if predicted is None:                                       # (no LDPC)
        return []
    draw = should_draw(job, predicted) and _draw_fits(job, predicted, note)
    with caches.recorded_stores() as done:
        for num_bits, rate in (_drawn_or_predicted(job, predicted, note) if draw else predicted):
            ldpc.mother_code(job.run.seed, num_bits, rate)
    return [(key, how, seconds) for kind, key, how, seconds in done if kind == ldpc.CODE_CACHE_KIND]


def _say(note: Callable[[str], None] | None, line: str) -> None:
    """``line`` to ``note``, or as a note to standard error where ``note`` is ``None``."""
    if note is None:
        print(f"dqsim: note: {line}", file=sys.stderr, flush=True)
    else:
        note(line)


def _draw_fits(job, predicted: list, note: Callable[[str], None] | None) -> bool:
    """Whether the draw of ``job`` (:func:`drawn_codes`) is kept already or its memory
    (:func:`draw_memory_bytes`) is expected within :data:`DRAW_MEMORY_SHARE` of the host's available memory; where
    not, one line to ``note`` (since 2026-12-07, late night: before, a draw too large for the host was started and
    ended in a ``MemoryError``, or the kernel's out-of-memory kill)."""
    if qkd_codes.kept_drawn_codes(job) is not None:
        return True
    need, free = draw_memory_bytes(job), backend_mod.host_available_bytes()
    if need <= DRAW_MEMORY_SHARE * free:
        return True
    _say(note, f"not drawing the run's own LDPC codes of {job.run.name}: its draw is expected to take "
               f"~{need / 1e6:,.0f} MB, more than {DRAW_MEMORY_SHARE:.0%} of the {free / 1e6:,.0f} MB available; "
               f"building the {len(predicted)} predicted from its links' physics instead")
    return False


def _drawn_or_predicted(job, predicted: list, note: Callable[[str], None] | None) -> list:
    """:func:`drawn_codes` of ``job``, or the ``predicted`` codes where the draw raises (its one line to ``note``)."""
    try:
        return drawn_codes(job)
    except Exception as exc:  # noqa: BLE001 - the run gives its own error; the warm-up builds what it can
        text = " ".join(str(exc).split()) or "no message"
        _say(note, f"drawing the run's own LDPC codes of {job.run.name} failed ({type(exc).__name__}: {text}); "
                   f"building the {len(predicted)} predicted from its links' physics instead")
        return predicted
