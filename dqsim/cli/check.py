"""``dqsim check JOB [--set ...] [-o OUT] [-n RANKS]``: validate a job without running it.

Prints the resolved job (every key, defaults filled in, as TOML), the
prefix of its checkpoints' names (its name and configuration hash,
:func:`dqsim.engine.checkpoint.checkpoint_prefix`; ``slurm/run_step.sh``
finds a job's own checkpoints by it; for a job that reads a QASM file also the
prefix its checkpoints had before 2026-12-07, :func:`dqsim.jobs.config_sha256_by_path`, its line marked
``other contents`` where the newest checkpoint of that name in the folder was written when a file the job reads
had other contents: :func:`dqsim.cli.edited.former_of_other_contents`, which ``slurm/run_step.sh`` does not
resume), the memory
each rank's state-vector register needs on ``RANKS`` ranks, the work the run will do (gates and
shots, pulses, pairs, time points) and, for a ``circuit`` job, where it
checkpoints (every how many operations) and the size of a checkpoint, for a
BB84 ``qkd`` job the memory of the detection reports a key block holds until
it ends and the key bits of the blocks that hold theirs at once (per link, also the size of a checkpoint
taken inside the block; a warning line past a quarter of this machine's memory), a warning line per link whose
detection reports outrun its classical channel (:func:`report_backlog_lines`: bits a pulse, pulse rate, bit rate,
the last report's wait over the run, which the memory lines count), the run's wall time on
this machine (``# time:``, a range and a SLURM ``--time``, from a pilot of the
job of about a second, :mod:`dqsim.cli.check_time`; not with ``--no-time``), and the job's warnings
(:meth:`dqsim.jobs.base.JobConfig.warnings`: a repeater cut-off that abandons
most chain attempts). Exit
status 0 for a job that ``dqsim run`` would start, 2 (one ``dqsim: error:``
line) for one it would refuse: a bad key or value, a QASM file that does not
parse, a register that cannot be split over ``RANKS``, an output or checkpoint
folder that cannot be made or written. Nothing is created or written (the
pilot's outputs stay in memory), except that the time pilot, as a run would, may fill numba's cache and store the
LDPC codes its key blocks build in dqsim's (``DQSIM_CACHE_DIR``): the
folders are judged from the permissions this process has, on this machine,
which need not be the one the ranks run on (the messages say so).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

from dqsim import backend as backend_mod
from dqsim import caches, io, jobs
from dqsim.cli import check_ranks, check_time, edited, unfinished
from dqsim.cli.finished import checkpoint_names
from dqsim.engine import checkpoint
from dqsim.io.writer import TABLE_PIECE_ROWS
from dqsim.errors import DqsimError, count_of
from dqsim.network import topology
from dqsim.protocols.qkd import ldpc, nodes
from dqsim.protocols.qkd.packed_bits import index_dtype
from dqsim.protocols.qkd.detections import (
    key_bits_per_detection,
    packed_bytes_per_detection,
    registered_clicks_per_pulse,
)
from dqsim.scenarios import cloud, dqc, qkd, qkd_codes, trotter
from dqsim.scenarios.circuit_checkpoint import ops_per_check
from dqsim.scenarios.circuit_run import build_circuit, check_local_qubits
from dqsim.scenarios.circuit_noise import GateNoise
from dqsim.state.sharded import estimate_memory_bytes
from dqsim.units import BYTES_PER_MIB, PS_PER_S, size_words

#: Exit status for bad input (as every dqsim command).
EXIT_BAD_INPUT = 2
#: Scenarios whose data register is a sharded state vector of the circuit's qubits.
_CIRCUIT_LIKE = ("circuit", "dqc")
#: Most distinct link lengths whose LDPC codes ``dqsim check`` predicts (evenly spread over them); warmup predicts
#: all. 32 from 2026-12-07 (afternoon), when each length cost ~0.06-0.4 s; since 2026-12-07 (late afternoon) every
#: length's blocks are worked out in one NumPy pass (:func:`dqsim.scenarios.qkd_codes.code_probabilities`), 4,095
#: lengths in a few CPU seconds (``bench/results/qkd-codes-predicted-vm-20261207q.md``), so check takes them all up
#: to a chain of this many.
CHECK_LINK_LENGTHS = 4096
#: Peak RSS of a process that imports every module a small ``dqc`` run imports, bytes: dqsim's command line with
#: NumPy, h5py, networkx and numba, and what the run imports on its way (scipy, numba's compiler). Measured: 178 MB
#: (``VmHWM``; 2026-12-07 (morning), CPython 3.11, ``bench/check_memory_scale.py --base``; the imports of
#: ``dqsim.cli.main`` alone 148-151 MB). The "imports alone 231 MB" of the day before read ``ru_maxrss`` in a process
#: started from a larger one, which keeps the parent's RSS at the fork.
IMPORTS_RSS_BYTES = 178e6
#: What a small run takes above its imports, bytes: numba's cached kernels loaded, the register, the engine, the
#: output's and a checkpoint's write. An 8-node ``dqc`` GHZ run peaks at 217 MB (222 MB checkpointed every 30 us),
#: 229 MB for an 8-site ``trotter`` run, 222 MB for a ``cloud`` run of two 4-qubit jobs (one rank, warm numba cache,
#: 2026-12-07 (morning); a first run that compiles the kernels ~90 MB more).
SMALL_RUN_BYTES = 40e6
#: Resident memory of a rank before its network's share, bytes: the run's imports and a small run's own
#: (:data:`IMPORTS_RSS_BYTES` + :data:`SMALL_RUN_BYTES`). It was 200 MB until 2026-12-07 (morning), from the peaks
#: of small runs (150-210 MB, 2026-12-06), ~17 MB below an 8-node run's since, and the per-node figures fitted
#: above runs whose base had grown erred about twice high at 2^20 nodes.
BASE_RSS_BYTES = IMPORTS_RSS_BYTES + SMALL_RUN_BYTES
#: What each rank of a run on several ranks takes besides, bytes: MPI's libraries and buffers (an 8-node ``dqc``
#: run's ranks on two ranks peak 13-21 MB above one rank's run, 2026-12-07 (morning); rank 0 of a 65,536-node
#: line, ring, star or grid 23-24 MB, 2026-12-07 (night)). Fitted with :data:`SEVERAL_RANKS_BYTES_PER_NODE`; 20 MB
#: until then.
MPI_RSS_BYTES = 27e6
#: What each node of a run's network takes on each rank of a run on several ranks besides
#: :func:`dqsim.network.topology.estimate_network_bytes`, bytes: on two ranks a rank peaks 23-28 MB above one
#: rank's run at 65,536 and 262,144 nodes and rank 0 54 MB at 2^20 (~30 bytes a node beyond 23 MB; 4-qubit GHZ
#: ``dqc`` over lines, rings, stars and grids, 2026-12-07 (night), bench/results/netscale-vm-20261207r.md). With
#: :data:`MPI_RSS_BYTES` 27 MB, 70 keeps the estimate at or above every two-rank peak measured since 2026-12-07
#: (late afternoon) (rank 0 of a 65,536-node line peaked at 280 MB, checkpointed;
#: bench/results/network-memory-vm-20261207q2.md) and within 1.3 of the night's (1.03-1.30). It was 112 (with 20
#: MB) until then, when one rank's per-node figure erred ~1 MB low at 65,536 nodes and the two-rank estimate of a
#: 2^20-node grid was 1.45 times rank 1's peak;
#: 160 before 2026-12-07 (late afternoon), from 2-rank runs whose ranks kept the lookahead table as a list per node
#: (150-170 bytes a node more than one rank's at 2^18 and 2^20; bench/results/check-memory-scale-vm-20261207.md).
SEVERAL_RANKS_BYTES_PER_NODE = 70
#: What each node of a ``cloud`` run's network takes on every rank besides
#: :func:`dqsim.network.topology.estimate_network_bytes`, bytes: its QPU in the centre the scheduler keeps (the
#: QPUs' names, data qubits and neighbours as Python lists, :class:`dqsim.scenarios.cloud_scheduler.Centre`). Fitted
#: to a ``cloud`` run of two 4-qubit GHZ jobs over lines of 262,144 and 2^20 nodes (420 and 995 MB, 492 and 531 bytes
#: a node above a ``trotter`` run's estimate; one rank, 2026-12-07 (later),
#: bench/results/output-names-vm-20261207.md). It was 650 (2026-12-07 (morning),
#: bench/results/check-memory-scale-vm-20261207.md) while the output's ``centre`` table was built whole, a Python
#: tuple per QPU, and its names listed twice in root attributes (469 and 1,168 MB for the same runs). Refitted on
#: 2026-12-07 (late night) from 510 to 540 to the same runs over lines of 2^16-2^20 QPUs on one and two ranks after
#: the night's per-QPU arrays (bench/results/checkfit-vm-20261207s.md): 2^20 on one rank peaked at 971 MB, above
#: 510's estimate (0.98; the peak grows faster than the QPUs from 2^19: 549 MB there); 540 gives 1.01-1.20 of every
#: rank's peak.
CLOUD_BYTES_PER_NODE = 540
#: What the writing rank (rank 0) takes for the run file's ``links`` table and ``node_names`` dataset while they are
#: written, per row of a piece (:data:`dqsim.io.writer.TABLE_PIECE_ROWS` rows at a time: each a Python string per
#: name, an HDF5 copy, the piece's arrays), bytes: fitted to the peak above the RSS once the trajectories are run
#: (25-36 MB from 16,384 links, ~6 MB at 4,096; bench/results/check-memory-scale-vm-20261207.md). Before
#: 2026-12-07 (morning) the estimate counted 40 MB (``LINKS_TABLE_BYTES``) from 100,000 links, ~17 MB of it the
#: base's shortfall.
WRITE_BYTES_PER_ROW = 1_500
#: Host memory each node of a repeater chain takes on every rank, bytes: measured, the growth of a run's peak
#: RSS from 256 to 4,096 links (155 to 240 MB, 1 BBPSSW round, cut-off; docs/review-scale-20261206.md).
CHAIN_BYTES_PER_NODE = 22_000
#: Host memory each link of a ``qkd`` network takes on every rank, bytes: its tally, its processes' and key
#: blocks' objects and its table rows, every rank gathering every link's; measured, the growth of a trusted
#: chain's peak RSS per link at 1,000 pulses a link (16,384 nodes: 605 MB on one rank, ~218 MB of it the base; two
#: ranks 474 and 460 MB; bench/results/qkd-network-scale-vm-20261207.md). Since 2026-12-07 (afternoon) only the
#: rank that writes the run file gathers them and makes the rows; the others peak lower (65,536 nodes on two
#: ranks: 1,182 and 901 MB, 1,182 and 1,158 before; bench/results/qkd-network-gather-vm-20261207p.md), and this
#: stays the writer's bound.
QKD_BYTES_PER_LINK = 24_000
#: ... and each pair of leaves of a ``qkd`` star that gets rows (``[qkd.network].end_to_end_pairs``: its
#: ``end_to_end`` row and two ``relay_links`` rows, kept as structured arrays a piece at a time,
#: :class:`dqsim.scenarios.output.RecordPieces`): a 512-node star of every pair (130,305) peaked 45 MB above the
#: same star of none (267 against 222 MB, 345 bytes a pair; one of 1,024 nodes, 522,753 pairs, 413 MB, estimated
#: 452; 2026-12-07, late night, bench/results/qkdstar-vm-20261207s.md). It was 1,000 while the rows were Python
#: tuples until the tables were made whole (the 512-node star: 327 MB, 806 bytes a pair; the 1,024-node one 680 MB).
QKD_BYTES_PER_STAR_PAIR = 400
#: Share of this machine's memory above which the key blocks' pending detection reports draw a warning.
PENDING_REPORTS_WARN_SHARE = 0.25


def _toml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def to_toml(data: dict, prefix: str = "") -> list[str]:
    """Lines of TOML for a nested dict; ``None`` (unset, the default applies) as a comment.

    Examples:
        >>> print("\\n".join(to_toml({"run": {"name": "a", "seed": None}, "qkd": {"link": {"distance_km": 5.0}}})))
        [run]
        name = "a"
        # seed: unset
        <BLANKLINE>
        [qkd.link]
        distance_km = 5.0
    """
    lines: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_list(v)}
    if prefix and scalars:
        lines.append(f"[{prefix}]")
    for key, value in scalars.items():
        lines.append(f"# {key}: unset" if value is None else f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            if lines:
                lines.append("")
            lines += to_toml(value, name)
        elif _is_table_list(value):
            for entry in value:
                lines += ["", f"[[{name}]]", *to_toml(entry, name)[1:]]
    return lines


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _register_lines(job, num_qubits: int, num_ranks: int, what: str, *, at_most: bool = False) -> list[str]:
    """Memory per rank of a sharded register of ``num_qubits`` on ``num_ranks`` ranks (or an error); ``at_most``:
    ``num_qubits`` is an upper bound of the register's (said so)."""
    if num_ranks & (num_ranks - 1):
        raise DqsimError(f"-n {num_ranks}: the {job.scenario} scenario splits its register over a power-of-two "
                         "number of ranks (1, 2, 4, 8, ...)")
    if 1 << num_qubits < num_ranks:
        raise DqsimError(f"-n {num_ranks}: a {num_qubits}-qubit register cannot be split over {num_ranks} ranks "
                         f"(at most {1 << num_qubits})")
    chunk = getattr(getattr(job, "simulation", None), "exchange_chunk_mib", None)
    extra = {"exchange_chunk_bytes": chunk * BYTES_PER_MIB} if chunk else {}
    need = estimate_memory_bytes(num_qubits, num_ranks, job.run.precision, **extra)
    most = "at most " if at_most else ""
    return [f"memory per rank: {most}{size_words(need['total'])} ({what}: {most}{count_of(num_qubits, 'qubit')}, "
            f"{job.run.precision}, shard {size_words(need['shard'])} + workspace {size_words(need['workspace'])})"]


def _circuit_cuts_line(job, num_qubits: int, num_ranks: int, terminal: bool) -> str:
    """Where a ``circuit`` run may checkpoint or stop (:mod:`dqsim.scenarios.circuit_checkpoint`), and the size."""
    shard = estimate_memory_bytes(num_qubits, num_ranks, job.run.precision)["shard"]
    every = ops_per_check(num_qubits - (num_ranks.bit_length() - 1))
    if terminal:
        where = f"at gate boundaries, every {count_of(every, 'operation')} of the (fused) schedule"
    else:
        where = (f"between trajectories and at gate boundaries inside one, every {count_of(every, 'operation')} "
                 "of it")
    held = "the state" if terminal else "the state (inside a trajectory after the first, also the first's: twice)"
    return f"checkpoints: {where}; each holds {held}, {size_words(shard)} per rank"


def file_size_lines(job, num_qubits: int, num_ranks: int) -> list[str]:
    """Warnings where a ``circuit`` run's largest files would pass a limit on one file's size (``EFBIG``, which no
    free space helps): this process's ``ulimit -f`` (``RLIMIT_FSIZE``), or the file system's own maximum where the
    OS gives it (``FILESIZEBITS``, :func:`dqsim.io.filesystem_file_limit`). The files: a checkpoint's slab file
    (each rank's shard, also for a stop signal's checkpoint) and, with ``save_state``, the output's state (the
    whole vector in the run file up to ``max_gather_qubits``, else each rank's slab file beside it)."""
    shard = estimate_memory_bytes(num_qubits, num_ranks, job.run.precision)["shard"]
    options = "more ranks (smaller slab files) or another folder"
    files = [(f"a checkpoint's slab file in {job.checkpoint.directory}", Path(job.checkpoint.directory), shard,
              f"{options} ([checkpoint].directory)")]
    simulation = job.simulation
    if getattr(simulation, "save_state", False):
        output = Path(job.run.output)
        if num_qubits <= simulation.max_gather_qubits:
            whole = shard * num_ranks
            files.append((f"the output {output} with its state", output.parent, whole,
                          "another -o, or a smaller [simulation].max_gather_qubits (the state in slab files, one "
                          "per rank)"))
        else:
            files.append((f"a slab file of the output's state beside {output}", output.parent, shard,
                          f"{options} (-o)"))
    lines, process = [], io.file_size_limit()
    for what, folder, size, fix in files:
        if process is not None and size > process:
            lines.append(f"warning: {what} takes at least {io.size_words(size)}, more than this process may write "
                         f"in one file ({io.size_words(process)}, ulimit -f): start dqsim after "
                         "`ulimit -f unlimited`, or " + fix)
        own = io.filesystem_file_limit(folder)
        if own is not None and size > own[0]:
            lines.append(f"warning: {what} takes at least {io.size_words(size)}, more than the file system of "
                         f"{folder} holds in one file ({io.filesystem_words(own)}): {fix}")
    return lines


def _network_register_lines(job, num_data_qubits: int, num_ranks: int, what: str, *, extra: int = 0,
                            exact: bool = True) -> list[str]:
    """Memory per rank of a ``dqc``/``trotter``/``cloud`` register: the data qubits plus the scratch bits the run
    starts with and ``extra`` qubits it adds later (:func:`dqsim.scenarios.dqc.extra_register_qubits`, a trotter
    run's :func:`dqsim.scenarios.trotter.teleport_extra_qubits`; ``exact`` False: at most that many, said so),
    held whole by every rank where its start is small enough (:func:`dqsim.scenarios.dqc.replicates`; any rank
    count, decided at the start as the run does), else sharded as a circuit's (a power of two)."""
    start = num_data_qubits + dqc.INITIAL_SCRATCH_QUBITS
    num_register = start + extra
    what = f"{what} + {dqc.INITIAL_SCRATCH_QUBITS + extra} scratch"
    if not dqc.replicates(num_ranks, start):
        return _register_lines(job, num_register, num_ranks, what, at_most=not exact)
    need = estimate_memory_bytes(num_register, 1, job.run.precision)
    most = "" if exact else "at most "
    return [f"memory per rank: {most}{size_words(need['total'])} ({what}: {most}{count_of(num_register, 'qubit')}, "
            f"{job.run.precision}, held whole by every rank: {size_words(need['shard'])} + workspace "
            f"{size_words(need['workspace'])})"]


def write_bytes(num_nodes: int, num_links: int) -> int:
    """What the writing rank takes while it writes the run file's ``links`` table and ``node_names`` dataset, bytes:
    :data:`WRITE_BYTES_PER_ROW` for each row of the largest piece (one piece at a time,
    :data:`dqsim.io.writer.TABLE_PIECE_ROWS` rows at most).

    Examples:
        >>> write_bytes(4096, 4095) / 1e6, write_bytes(2**20, 2**20 - 1) / 1e6
        (6.144, 24.576)
    """
    return WRITE_BYTES_PER_ROW * min(max(num_nodes, num_links), TABLE_PIECE_ROWS)


def _network_bytes(job) -> int:
    """The bytes of a ``dqc``, ``trotter`` or ``cloud`` job's network on every rank: its nodes, links and the links'
    own lengths (:func:`dqsim.network.topology.estimate_network_bytes`), and a ``cloud`` run's centre
    :data:`CLOUD_BYTES_PER_NODE` a node more."""
    section = job.network
    num_nodes = section.resolved_num_nodes()
    need = topology.estimate_network_bytes(num_nodes, section.num_links(), section.num_links_of_unequal_lengths(),
                                           section.topology)
    return need + (CLOUD_BYTES_PER_NODE * num_nodes if job.scenario == "cloud" else 0)


def network_peak_bytes(job, num_ranks: int) -> list[int]:
    """The peak RSS of each rank of a ``dqc``, ``trotter`` or ``cloud`` run of ``job`` on ``num_ranks`` ranks,
    bytes, as far as the network sets it (its register is counted apart): :data:`BASE_RSS_BYTES`, the network every
    rank builds (:func:`_network_bytes`: its nodes, links and the links' own lengths; a ``cloud`` run's centre
    :data:`CLOUD_BYTES_PER_NODE` a node more), on several ranks :data:`MPI_RSS_BYTES` and
    :data:`SEVERAL_RANKS_BYTES_PER_NODE` a node, and on rank 0, which writes the run file, :func:`write_bytes`.
    Within 25 % of the measured peaks of ``dqc`` GHZ runs (checkpointed or not), ``trotter`` and ``cloud`` runs
    over lines, rings, stars and grids of 4,096 to 2^20 nodes on 1 and 2 ranks
    (bench/results/check-memory-scale-vm-20261207.md); since the engine's rank tables shrank (2026-12-07 (late
    afternoon)) a 2-rank ``dqc`` GHZ over a line peaks lower: 1.01-1.32 times the measured at 65,536 to 2^20 nodes
    (bench/results/network-memory-vm-20261207q2.md); with a line's, ring's, star's and grid's own bytes a node
    (:data:`dqsim.network.topology.BYTES_PER_NODE_OF`, 2026-12-07 (night)) 1.00-1.10 of one rank's peak and 1.03-1.30
    of each rank's on two over the four at 65,536 to 2^20 nodes (bench/results/netscale-vm-20261207r.md); refitted
    with SciPy's search, for ``all_to_all``, ``edges`` files and ``cloud`` (2026-12-07 (late night)): 1.00-1.23 and
    1.01-1.29 (bench/results/checkfit-vm-20261207s.md).

    Examples:
        >>> from dqsim.jobs import load_job_text
        >>> job = load_job_text('[run]\\nname = "a"\\nscenario = "dqc"\\n[network]\\ntopology = "line"\\n'
        ...                     'num_nodes = 1048576\\n[network.link]\\ndistance_km = 1.0\\n[network.node]\\n'
        ...                     'num_data_qubits = 1\\n[circuit]\\n'
        ...                     'generator = "ghz"\\nnum_qubits = 4\\n')
        >>> [round(peak / 1e6) for peak in network_peak_bytes(job, 2)]
        [515, 490]
    """
    section = job.network
    num_nodes, num_links = section.resolved_num_nodes(), section.num_links()
    every = BASE_RSS_BYTES + _network_bytes(job)
    if num_ranks > 1:
        every += MPI_RSS_BYTES + SEVERAL_RANKS_BYTES_PER_NODE * num_nodes
    return [round(every + (write_bytes(num_nodes, num_links) if rank == 0 else 0)) for rank in range(num_ranks)]


def _network_lines(job, num_ranks: int) -> list[str]:
    """Memory per rank of a ``dqc``, ``trotter`` or ``cloud`` job's network, beside its register: every rank builds
    all of it, and a rank's peak adds the run's imports, MPI's share and the writing rank's output write
    (:func:`network_peak_bytes`)."""
    section = job.network
    num_nodes, num_links = section.resolved_num_nodes(), section.num_links()
    lengths = section.num_links_of_unequal_lengths()
    need = _network_bytes(job)
    per_node = topology.bytes_per_node(num_nodes, num_links, section.topology)
    if job.scenario == "cloud":
        per_node += CLOUD_BYTES_PER_NODE
    peaks = network_peak_bytes(job, num_ranks)
    several = (f", ~{MPI_RSS_BYTES / 1e6:.0f} MB of MPI and ~{SEVERAL_RANKS_BYTES_PER_NODE / 1000:g} kB more per node "
               "on each of several ranks" if num_ranks > 1 else "")
    peak = (f"about {size_words(peaks[1])} (rank 0, which writes the output: {size_words(peaks[0])})"
            if num_ranks > 1 else f"about {size_words(peaks[0])}")
    return [f"memory per rank for the network: about {size_words(need)} ({num_nodes:,} nodes, {num_links:,} links; "
            f"measured ~{per_node / 1000:g} kB per node and "
            f"~{topology.bytes_per_link(section.topology) / 1000:g} kB per link{_lengths_words(lengths)}); peak RSS "
            f"per rank {peak}, "
            f"with "
            f"~{BASE_RSS_BYTES / 1e6:.0f} MB for Python, its libraries and a small run{several} and the output's write "
            f"on rank 0 "
            f"({size_words(write_bytes(num_nodes, num_links))}), besides the register"] + _edges_file_lines(section)


def _lengths_words(lengths: int) -> str:
    """The network line's words for the links of an ``"edges"`` network whose lengths are not all equal (each link
    then pays: :meth:`dqsim.jobs.network.NetworkSection.num_links_of_unequal_lengths`)."""
    if not lengths:
        return ""
    return (f", and ~{topology.BYTES_PER_LINK_LENGTH:g} bytes for each of the {lengths:,} links, whose lengths are "
            "not all equal")


def _edges_file_lines(section) -> list[str]:
    """What a ``[network].edges_file`` gave: its nodes and links and its SHA-256, which the checkpoints' prefix
    counts (:func:`dqsim.jobs.config_sha256`: an edited file starts a run of its own and is refused on resume)."""
    if getattr(section, "edges_file", None) is None:
        return []
    own = section.num_links_with_own_length()
    return [f"edges file: {section.edges_file}: {section.resolved_num_nodes():,} nodes, "
            f"{section.num_links():,} links ({own:,} with their own distance_km), SHA-256 "
            f"{jobs.file_sha256(section.edges_file)[:16]}... (in the checkpoint prefix's hash)"]


def _fidelity_check_lines(job, terminal: bool) -> list[str]:
    """How a ``dqc`` run will find its fidelity (:func:`dqsim.scenarios.dqc.run_dqc`) and the memory it takes."""
    method = job.simulation.fidelity_check
    if not terminal or method == "off":
        return ["fidelity check: none" + (" (a dynamic circuit)" if method != "off" else "")]
    if method == "in_place":
        return ["fidelity check: in place (the circuit undone and redone on the final state: no memory, "
                "twice the gates)"]
    more = "refused at the end of the run where it does not fit" if method == "copy" else \
        "else in place: no memory, twice the gates"
    return [f"fidelity check: a second register, as much memory again, when it fits beside the first ({more})"]


def machine_memory_bytes() -> int | None:
    """This machine's physical memory, bytes (``None`` where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _clicks_per_pulse(job, plan, phys) -> float:
    """Bob's clicks per pulse (pair slot) on a link: BB84 the registered clicks
    (:func:`~dqsim.protocols.qkd.detections.registered_clicks_per_pulse`), BBM92/E91 a pilot draw
    (:func:`~dqsim.protocols.qkd.nodes.entangled_bob_clicks_per_pair`)."""
    if job.qkd.protocol == "bb84_decoy":
        return registered_clicks_per_pulse(plan.source, channel=phys.channel, detector=phys.detector, eve=phys.eve,
                                           noise_probability=phys.noise_probability)
    return nodes.entangled_bob_clicks_per_pair(plan, phys)


def report_backlog(job) -> list[tuple[int, float, float, float, float, float, int]]:
    """Per link of a ``qkd`` job, its reports on the classical channel at the link's distance (of a sweep) where
    their queue grows most: ``(link, distance_km, clicks per pulse, report bits per pulse, pulse rate Hz,
    classical_bit_rate_hz, the last report's wait, ps)``.

    A report of a batch takes its bits (:func:`~dqsim.protocols.qkd.nodes.report_bits_per_pulse`: the clicks'
    places in the shortest code, a setting a click, its tag) over ``classical_bit_rate_hz``; where that is more
    than the batch's emission the reports queue on Bob's channel and each waits longer than the one before, the
    last of the link's run :func:`~dqsim.protocols.qkd.nodes.report_backlog_ps` (0 where the channel keeps up).
    The memory lines take the reports' round trip with that wait (:func:`pending_report_bytes`).
    """
    q = job.qkd
    plan = qkd.build_plan(job)
    rate = plan.source.source_rate_hz if q.protocol == "bb84_decoy" else plan.entangled_source.pair_rate_hz
    batch = min(q.batch_pulses, q.pulses)
    distances = job.distances_km() if q.sweep is not None else [None]
    worst: dict[int, tuple[int, float, float, float, float, float, int]] = {}
    for distance in distances:
        for i, d, phys in _links_alike(job, distance):
            if phys is not None:  # the first link of this length: its figures
                clicks = _clicks_per_pulse(job, plan, phys)
                bits = nodes.report_bits_per_pulse(plan, batch, clicks)
                wait = nodes.report_backlog_ps(bits, batch, q.pulses, rate, q.classical_bit_rate_hz)
            if i not in worst or (wait, bits) > (worst[i][6], worst[i][3]):
                worst[i] = (i, d, clicks, bits, rate, q.classical_bit_rate_hz, wait)
    return [worst[i] for i in sorted(worst)]


def _links_alike(job, distance_km: float | None):
    """``(link, distance_km, physics)`` of every link of a ``qkd`` job at a distance of its sweep (``None``: the
    links' own lengths), in order; ``physics`` (:func:`~dqsim.scenarios.qkd.link_physics`) only where the length
    differs from the link before's, ``None`` where it is the same: the caller keeps the figures of the last link
    given ``physics``, and a 65,536-link chain of one length is worked out once (every link was, a pilot draw of
    2^16 pairs each for BBM92/E91, until 2026-12-07, later that day). For BB84 a link's figures depend on its
    length alone; for BBM92/E91 the clicks per pulse and key bits per pair come from a pilot draw seeded with the
    link's node (``node=phys.alice``), so each link has its own sample and a run of equal-length links reports the
    first one's: equal within the pilot's sampling noise (~1/√bits), not bit for bit what each link's own draw
    would give."""
    last = None
    for i, (a, b, d) in enumerate(job.network_links(distance_km)):
        kind = (d, job.qkd.eve_attacks(i))  # [qkd.eve].links: an attacked link differs from its like
        yield i, d, (qkd.link_physics(job, i, a, b, d) if kind != last else None)
        last = kind


def _backlog_ps(job, rows=None) -> dict[int, int]:
    """The last report's wait on each link's channel, ps, from :func:`report_backlog`'s ``rows`` (made here where
    None)."""
    return {row[0]: row[6] for row in (report_backlog(job) if rows is None else rows)}


def report_backlog_lines(job, rows=None) -> list[str]:
    """One warning per link whose reports outrun its classical channel (:func:`report_backlog`'s ``rows``, made
    here where None), with the numbers: bits per pulse, pulse rate, the channel's bit rate, the last report's wait
    over the run."""
    q = job.qkd
    slot = qkd.slot_word(q.protocol)
    lines = []
    for i, d, clicks, bits, rate, bit_rate, wait in (report_backlog(job) if rows is None else rows):
        if bits * rate <= bit_rate:
            continue
        emission_ps = q.pulses * PS_PER_S / rate
        lines.append((i, d, "warning: ", f"Bob's detection reports outrun the classical channel: "
                     f"{bits:.3g} bits per {slot} ({clicks:.3g} clicks per {slot}; places, settings and tag) x "
                     f"{rate:.3g} {slot}s/s = {bits * rate:.3g} bit/s, above classical_bit_rate_hz = {bit_rate:.3g} "
                     f"bit/s: they queue, and the last report waits {wait / PS_PER_S * 1e3:.3g} ms more than the "
                     f"first, a delay growing by {wait / emission_ps:.3g} s per s over the run's {q.pulses:,} "
                     f"{slot}s ({emission_ps / PS_PER_S * 1e3:.3g} ms of emission; less where the source waits for "
                     f"max_blocks_in_postprocessing blocks); the memory lines count that wait in the reports' round "
                     f"trip; raise [qkd].classical_bit_rate_hz above {bits * rate:.3g} to keep up"))
    return link_lines(lines)


def link_lines(items: list[tuple[int, float, str, str]]) -> list[str]:
    """``"{before}link {i} ({d} km): {text}"`` for each ``(i, d, before, text)`` of ``items``, in their order, links
    that follow one another with the same length and text in one line, ``"{before}links {first}-{last} ({d} km,
    each): {text}"``: a chain of 65,536 links of one length gets a line, not one a link (until 2026-12-07, later
    that day).

    Examples:
        >>> link_lines([(0, 5.0, "", "a"), (1, 5.0, "", "a"), (2, 5.0, "", "a"), (3, 9.0, "w: ", "a")])
        ['links 0-2 (5 km, each): a', 'w: link 3 (9 km): a']
    """
    lines, start = [], 0
    for end in range(1, len(items) + 1):
        if end < len(items) and items[end][1:] == items[start][1:] and items[end][0] == items[end - 1][0] + 1:
            continue
        first, d, before, text = items[start]
        last = items[end - 1][0]
        lines.append(f"{before}link {first} ({d:g} km): {text}" if last == first
                     else f"{before}links {first}-{last} ({d:g} km, each): {text}")
        start = end
    return lines


def pending_report_bytes(job, backlog_rows=None) -> list[tuple[int, float, float, int, float, float, float]]:
    """Per link of a BB84 ``qkd`` job sampled at the cost of detections, what its key blocks hold until they end,
    at the link's shortest distance of a sweep (the most detections): ``(link, distance_km, detections per pulse,
    reports held, reports bytes, one block's key bytes, blocks holding key bits at once)``.

    Alice folds Bob's detection reports into the block's counts and key bits as they come
    (:class:`dqsim.protocols.qkd.nodes.Bb84Alice`), so a block holds (in her mailbox, in flight, and in a checkpoint
    taken inside it) at most :func:`~dqsim.protocols.qkd.nodes.max_reports_held` reports, a round trip's worth,
    each ``batch_pulses`` times the registered clicks per pulse
    (:func:`~dqsim.protocols.qkd.detections.registered_clicks_per_pulse`, from the link's transmittance, detector
    efficiency, dark and noise counts, dead time) times
    :func:`~dqsim.protocols.qkd.detections.packed_bytes_per_detection` bytes (the packed report in flight; 12, the
    unpacked :data:`~dqsim.protocols.qkd.detections.BYTES_PER_DETECTION`, until 2026-12-06); and, with Cascade, the block's key bits,
    Alice's and Bob's, packed: ``block_pulses`` times that rate times the key bits per detection
    (:func:`~dqsim.protocols.qkd.detections.key_bits_per_detection`) times
    :data:`~dqsim.protocols.qkd.nodes.KEY_BYTES_PER_KEY_BIT`. The source emits on while earlier blocks are
    post-processed, and each holds its key bits until its last report is in (its result is worked out then; until
    2026-12-07, evening, at its estimate message, 2d later): up to
    :func:`~dqsim.protocols.qkd.nodes.blocks_holding_key_bits` blocks' worth at once (one, then about 1 + 2d/T, T
    the block's emission, at most ``max_blocks_in_postprocessing``; one block's until 2026-12-07). The reports'
    round trip is 2d and, where the reports outrun the classical channel (their bits a pulse times the source
    rate above ``classical_bit_rate_hz``), the last report's wait in the queue (:func:`report_backlog`, or its
    ``backlog_rows`` where the caller has them; until
    2026-12-07 (morning) 2d alone, and more were in flight than counted). (Until 2026-12-06
    she held all of the block's reports, ``block_pulses`` times the rate times 12 bytes.) Empty for other
    protocols and samplings.
    """
    q = job.qkd
    if q.protocol != "bb84_decoy" or q.sampling != "detections":
        return []
    plan = qkd.build_plan(job)
    block = min(q.block_pulses, q.pulses)
    batch_ps = max(1, round(q.batch_pulses * PS_PER_S / plan.source.source_rate_hz))
    distances = job.distances_km() if q.sweep is not None else [None]
    backlog = _backlog_ps(job, backlog_rows)
    worst: dict[int, tuple[int, float, float, int, float, float, float]] = {}
    for distance in distances:
        for i, d, phys in _links_alike(job, distance):
            if phys is not None:  # (the links that follow until the next length: the same figures)
                rate = _clicks_per_pulse(job, plan, phys)
                held = nodes.max_reports_held(2 * phys.delay_ps + backlog[i], batch_ps, -(-block // q.batch_pulses))
                reports = held * min(q.batch_pulses, block) * rate * packed_bytes_per_detection(
                    plan.source.num_classes, min(q.batch_pulses, block))
                key = 0.0
                if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
                    share = key_bits_per_detection(plan.source, channel=phys.channel, detector=phys.detector,
                                                   eve=phys.eve, noise_probability=phys.noise_probability,
                                                   finite_key=q.security == "finite_key")
                    key = block * rate * share * nodes.KEY_BYTES_PER_KEY_BIT
                blocks = _blocks_holding_keys(job, plan, 0, batch_ps)  # (its key bits come with its last report)
            if i not in worst or reports + key * blocks > worst[i][4] + worst[i][5] * worst[i][6]:
                worst[i] = (i, d, rate, held, reports, key, blocks)
    return [worst[i] for i in sorted(worst)]


def pending_message_bytes(job, backlog_rows=None) -> list[tuple[int, float, int, float, float, float]]:
    """Per link of a ``qkd`` job that BB84 samples pulse by pulse (``sampling = "pulses"``) or of BBM92/E91, what
    its key blocks hold until they end, at the link's shortest distance of a sweep: ``(link, distance_km, batches
    in flight, their messages' bytes, one block's key bytes, blocks holding key bits at once)``; the model of
    :func:`pending_report_bytes` (BBM92/E91: a block's key bits, drawn by Bob's process when each batch's
    photons reach him, travel in his reports and are held until its last report is in, one link delay d after the
    last batch's draw, and the reports' wait on the channel (:func:`report_backlog`); until 2026-12-07 (morning)
    Alice drew them as the source ended each batch, held from then,
    :func:`~dqsim.protocols.qkd.nodes.entangled_sifting_ps` after the last; until the evening before, until its
    estimate message, 2d more).

    BB84 pulse by pulse: up to :func:`~dqsim.protocols.qkd.nodes.max_reports_held` batches are in flight, each
    Alice's packed pulses (:func:`~dqsim.protocols.qkd.nodes.pulses_in_flight_bytes`, kept until Bob's report)
    and Bob's report (the registered clicks per pulse times ``batch_pulses`` times the index bytes,
    :func:`~dqsim.protocols.qkd.packed_bits.index_dtype`, plus five bits); with Cascade the key bits as in
    :func:`pending_report_bytes`. BBM92/E91: Bob's process draws each batch and his report (up to
    :func:`~dqsim.protocols.qkd.nodes.max_reports_held` in flight, the source emitting on) carries its counts
    and, with Cascade or LDPC, its key bits, which the block's key bits below count, so no other batch's arrays
    are held (until 2026-12-06 Alice sent Bob his detections and settings, packed, and waited for his report:
    one batch's message in flight); with Cascade ``block_pulses`` times the key bits per pair
    (:func:`~dqsim.protocols.qkd.nodes.entangled_key_bits_per_pair`, a pilot draw of 2^16 pairs) times
    :data:`~dqsim.protocols.qkd.nodes.KEY_BYTES_PER_KEY_BIT`. Empty for BB84 sampled at the cost of detections.
    """
    q = job.qkd
    if q.protocol == "bb84_decoy" and q.sampling == "detections":
        return []
    plan = qkd.build_plan(job)
    block = min(q.block_pulses, q.pulses)
    batch = min(q.batch_pulses, block)
    distances = job.distances_km() if q.sweep is not None else [None]
    backlog = _backlog_ps(job, backlog_rows)
    worst: dict[int, tuple[int, float, int, float, float, float]] = {}
    for distance in distances:
        for i, d, phys in _links_alike(job, distance):
            if phys is not None:  # (the links that follow until the next length: the same figures)
                key = 0.0
                if q.protocol == "bb84_decoy":
                    rate = _clicks_per_pulse(job, plan, phys)
                    batch_ps = max(1, round(q.batch_pulses * PS_PER_S / plan.source.source_rate_hz))
                    held = nodes.max_reports_held(2 * phys.delay_ps + backlog[i], batch_ps,
                                                  -(-block // q.batch_pulses))
                    messages = held * (nodes.pulses_in_flight_bytes(plan.source, batch)
                                       + batch * rate * (index_dtype(batch).itemsize + 5 / 8))
                    if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
                        share = key_bits_per_detection(plan.source, channel=phys.channel, detector=phys.detector,
                                                       eve=phys.eve, noise_probability=phys.noise_probability,
                                                       finite_key=q.security == "finite_key")
                        key = block * rate * share * nodes.KEY_BYTES_PER_KEY_BIT
                    blocks = _blocks_holding_keys(job, plan, 0, batch_ps)
                else:  # Bob draws each batch; his reports carry its counts and key bits (counted in the block's)
                    pair_ps = max(1, nodes.emission_ps(q.batch_pulses, plan.entangled_source.pair_rate_hz))
                    held = nodes.max_reports_held(
                        nodes.entangled_sifting_ps(phys, plan.entangled_source.position) + backlog[i], pair_ps,
                        -(-block // q.batch_pulses))
                    messages = 0.0
                    if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
                        key = block * nodes.entangled_key_bits_per_pair(plan, phys) * nodes.KEY_BYTES_PER_KEY_BIT
                    blocks = _blocks_holding_keys(job, plan, phys.delay_ps + backlog[i], pair_ps)
            if i not in worst or messages + key * blocks > worst[i][3] + worst[i][4] * worst[i][5]:
                worst[i] = (i, d, held, messages, key, blocks)
    return [worst[i] for i in sorted(worst)]


def _blocks_holding_keys(job, plan, hold_ps: int, batch_ps: int) -> float:
    """:func:`~dqsim.protocols.qkd.nodes.blocks_holding_key_bits` of a link: its last report ``hold_ps`` after a
    block's last key bits, a batch's emission ``batch_ps``."""
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    return nodes.blocks_holding_key_bits(int(hold_ps), int(batch_ps), -(-block // q.batch_pulses),
                                         plan.max_blocks_in_postprocessing, -(-q.pulses // q.block_pulses))


def _key_blocks_text(blocks: float) -> str:
    """The clause of the key bits' blocks held at once (the source emitting on)."""
    return (f" a block, up to {blocks:.3g} blocks' worth held at once (the source emits on: about 1 + H/T, H from "
            f"a block's last key bits to its last report, T its emission; at most max_blocks_in_postprocessing)")


def _pending_message_lines(job, message_rows) -> list[str]:
    """The lines of :func:`pending_message_bytes`' ``message_rows`` (their memory goes to
    :func:`_pending_report_lines`' warning)."""
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    lines = []
    for i, d, held, messages, key, blocks in message_rows:
        what = ("Alice's pulses and Bob's reports, packed, up to " f"{held} batches in flight (a round trip's)"
                if q.protocol == "bb84_decoy" else f"up to {held} of Bob's reports in flight (their key bits "
                "counted with the block's)")
        slot = qkd.slot_word(q.protocol)
        line = (f"{what}, {size_words(messages)} "
                f"({messages / max(held * min(q.batch_pulses, block), 1):.3g} bytes per {slot} x "
                f"{min(q.batch_pulses, block):,} {slot}s x {held})")
        if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
            line += (f", and the block's key bits for {nodes.EC_NAMES[q.error_correction]}, packed, {size_words(key)} "
                     f"({block:,} {slot}s){_key_blocks_text(blocks)}, {size_words(key * blocks)}")
        lines.append((i, d, "key block of ", line + "; a checkpoint taken inside the block holds up to as much"
                      + _cascade_end_text(key, q.error_correction)))
    return link_lines(lines)


def cascade_end_bytes(key_bytes: float) -> float:
    """Bytes a key block's end adds with Cascade, from the block's packed key bits (``key_bytes``, Alice's and Bob's
    at :data:`~dqsim.protocols.qkd.nodes.KEY_BYTES_PER_KEY_BIT`): the post-processing's arrays on the packed keys,
    :data:`~dqsim.protocols.qkd.nodes.CASCADE_END_BYTES_PER_KEY_BIT` a key bit and
    :data:`~dqsim.protocols.qkd.nodes.CASCADE_END_FIXED_BYTES` (measured; 14 bytes a key bit until 2026-12-06, when
    Cascade took the keys unpacked)."""
    if not key_bytes:
        return 0.0
    return key_bytes / nodes.KEY_BYTES_PER_KEY_BIT * nodes.CASCADE_END_BYTES_PER_KEY_BIT + nodes.CASCADE_END_FIXED_BYTES


def ldpc_end_bytes(key_bytes: float) -> float:
    """Bytes a key block's end adds with LDPC, from the block's packed key bits (``key_bytes``, as
    :func:`cascade_end_bytes`): :data:`~dqsim.protocols.qkd.ldpc.END_BYTES_PER_KEY_BIT` a key bit (both keys
    unpacked, Bob's corrected copy, the kept flags) and :data:`~dqsim.protocols.qkd.ldpc.END_FIXED_BYTES` (one
    frame's decoder), measured by ``bench/qkd_ldpc.py``; the codes, built once a run, are not counted."""
    if not key_bytes:
        return 0.0
    return key_bytes / nodes.KEY_BYTES_PER_KEY_BIT * ldpc.END_BYTES_PER_KEY_BIT + ldpc.END_FIXED_BYTES


def _cascade_end_text(key_bytes: float, error_correction: str = "cascade") -> str:
    """The end-of-block memory clause: Cascade's or LDPC's measured bytes on the block's key bits."""
    if not key_bytes:
        return ""
    if error_correction == "cascade":
        return (f"; at the block's end Cascade works on the key bits packed and adds "
                f"~{size_words(cascade_end_bytes(key_bytes))} (~{nodes.CASCADE_END_BYTES_PER_KEY_BIT:g} bytes per key "
                f"bit and {size_words(nodes.CASCADE_END_FIXED_BYTES)}, measured)")
    return (f"; at the block's end {nodes.EC_NAMES[error_correction]} takes the key bits unpacked and adds "
            f"~{size_words(ldpc_end_bytes(key_bytes))} (~{ldpc.END_BYTES_PER_KEY_BIT:g} bytes per key bit and "
            f"{size_words(ldpc.END_FIXED_BYTES)}, measured)")


def _pending_report_lines(job) -> list[str]:
    """The lines of :func:`pending_report_bytes`, and one warning where they pass
    :data:`PENDING_REPORTS_WARN_SHARE` of this machine's memory."""
    backlog_rows = report_backlog(job)  # (once: each asks for the plan and every link's clicks per pulse)
    rows = pending_report_bytes(job, backlog_rows)
    message_rows = pending_message_bytes(job, backlog_rows)
    q = job.qkd
    block = min(q.block_pulses, q.pulses)
    lines = report_backlog_lines(job, backlog_rows) + _pending_message_lines(job, message_rows)
    report_lines = []
    for i, d, rate, held, reports, key, blocks in rows:
        line = (f"Bob's detection reports folded as they come, up to {held} held "
                f"(a round trip's), {size_words(reports)} ({rate:.3g} detections per pulse x "
                f"{min(q.batch_pulses, block):,} pulses x {held} x "
                f"{reports / max(held * min(q.batch_pulses, block) * rate, 1e-300):.4g} "
                f"bytes, packed)")
        if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
            line += (f", and the block's key bits for {nodes.EC_NAMES[q.error_correction]}, packed, {size_words(key)} "
                     f"({key / max(block * rate, 1e-300):.3g} bytes per detection x {block:,} pulses)"
                     f"{_key_blocks_text(blocks)}, {size_words(key * blocks)}")
        report_lines.append((i, d, "key block of ", line + "; a checkpoint taken inside the block holds up to "
                             "as much" + _cascade_end_text(key, q.error_correction)))
    lines += link_lines(report_lines)
    total = (sum(row[4] + row[5] * row[6] for row in rows)
                          + sum(row[3] + row[4] * row[5] for row in message_rows))
    memory = machine_memory_bytes()
    if memory and total > PENDING_REPORTS_WARN_SHARE * memory:
        what = f"[qkd].batch_pulses (now {q.batch_pulses:,})"
        if q.error_correction in nodes.KEYED_ERROR_CORRECTIONS:
            what = f"[qkd].block_pulses (now {block:,}) or " + what
        lines.append(f"warning: the key blocks' pending detection reports and key bits ({size_words(total)}, all "
                     f"links) pass {PENDING_REPORTS_WARN_SHARE:.0%} of this machine's memory ({size_words(memory)}): "
                     f"lower {what}")
    return lines


def qkd_network_bytes(job, num_links: int) -> float:
    """Bytes a ``qkd`` run's links take on the rank that writes the run file (:data:`QKD_BYTES_PER_LINK` each, and
    a star's pairs of leaves :data:`QKD_BYTES_PER_STAR_PAIR` each, their end-to-end keys), besides its imports and
    batches; less on the others.

    Examples:
        >>> from dqsim.jobs import load_job_text
        >>> job = load_job_text('[run]\\nname = "s"\\nscenario = "qkd"\\n[qkd.link]\\ndistance_km = 5\\n'
        ...                     '[qkd.network]\\ntopology = "star"\\nnum_nodes = 4')
        >>> qkd_network_bytes(job, 3) == 3 * QKD_BYTES_PER_LINK + 3 * QKD_BYTES_PER_STAR_PAIR
        True
        >>> job = load_job_text('[run]\\nname = "s"\\nscenario = "qkd"\\n[qkd.link]\\ndistance_km = 5\\n'
        ...                     '[qkd.network]\\ntopology = "star"\\nnum_nodes = 4\\nend_to_end_pairs = [[1, 3]]')
        >>> qkd_network_bytes(job, 3) == 3 * QKD_BYTES_PER_LINK + QKD_BYTES_PER_STAR_PAIR
        True
    """
    network = job.qkd.network
    pairs = network.num_star_pairs() if network is not None else 0  # end_to_end_pairs: all, none or a list
    return num_links * QKD_BYTES_PER_LINK + pairs * QKD_BYTES_PER_STAR_PAIR


def _qkd_memory_line(job, num_links: int) -> str:
    """``dqsim check``'s memory line of a ``qkd`` job: its batches, its links (:func:`qkd_network_bytes`)."""
    q = job.qkd
    slot = qkd.slot_word(q.protocol)
    line = (f"memory per rank: no state-vector register; {slot} batches of {q.batch_pulses:,} (a few arrays of that "
            f"length); about {size_words(qkd_network_bytes(job, num_links))} for its {num_links:,} link(s) on rank 0, "
            f"which writes the run file, less on the others (each's tally, processes and table rows, "
            f"~{QKD_BYTES_PER_LINK / 1000:g} kB a link, measured")
    if q.network is not None and q.network.topology == "star":
        pairs = q.network.num_star_pairs()
        chosen = "" if q.network.end_to_end_pairs == "all" else " (end_to_end_pairs)"
        line += (f"; and the end-to-end keys of {pairs:,} pairs of leaves{chosen}, ~{QKD_BYTES_PER_STAR_PAIR / 1000:g}"
                 " kB a pair" if pairs else "; no pair of leaves' end-to-end key (end_to_end_pairs)")
    return line + f"), besides ~{BASE_RSS_BYTES / 1e6:.0f} MB of Python and its libraries"


def _check_network(job, num_ranks: int):
    """Refuse what a ``dqc``, ``trotter`` or ``cloud`` run refuses when it builds its network on ``num_ranks``
    ranks: a ``[network].placement`` rank the run does not have, a link whose pairs take longer than a run
    can simulate. Returns the network."""
    network = dqc.job_network(job.network, num_ranks, source=job.source)
    network.check_pairing_horizon(job.source)
    return network


def work_lines(job, num_ranks: int) -> list[str]:
    """What the run will do and the memory per rank, as lines (raises DqsimError where it cannot run)."""
    scenario = job.scenario
    if scenario in _CIRCUIT_LIKE:
        circuit = build_circuit(job)
        noisy = getattr(getattr(job, "noise", None), "active", False)
        terminal = circuit.measurements_are_terminal() and not noisy
        if scenario == "dqc":
            dqc.trajectories_for(job, circuit)  # refuses trajectories that contradict shots
        mode = "final-state sampling" if terminal else "one trajectory per shot"
        lines = [f"work: {count_of(circuit.num_qubits, 'qubit')}, {count_of(len(circuit.gates()), 'gate')}, "
                 f"{count_of(job.simulation.shots, 'shot')} ({mode})"]
        if scenario == "dqc":
            _, prepared = dqc.plan_job(job, circuit, num_ranks)  # refused as dqsim run refuses them
            # as the run's plan holds communication qubits in the register
            extra, exact = dqc.extra_register_qubits(prepared, job.distribution.entanglement)
            return (lines + _network_register_lines(job, circuit.num_qubits, num_ranks, "data register", extra=extra,
                                                    exact=exact)
                    + _network_lines(job, num_ranks) + _fidelity_check_lines(job, terminal))
        lines += _register_lines(job, circuit.num_qubits, num_ranks, "data register")
        gate_noise = GateNoise(job.noise, job.run.seed) if noisy else None
        check_local_qubits(circuit, num_ranks, gate_noise)  # as dqsim run does on that many ranks
        lines.append(_circuit_cuts_line(job, circuit.num_qubits, num_ranks, terminal))
        return lines + file_size_lines(job, circuit.num_qubits, num_ranks)
    if scenario == "qkd":
        distances = job.distances_km() if job.qkd.sweep is not None else [None]  # as the qkd scenario runs them
        links = job.network_links(distances[0])
        pulses = job.qkd.pulses * len(distances) * len(links)
        slot = qkd.slot_word(job.qkd.protocol)
        return [f"work: {len(distances)} distance(s) x {len(links)} link(s) x {job.qkd.pulses:,} {slot}s "
                f"= {pulses:,} {slot}s, in batches of {job.qkd.batch_pulses:,}",
                _qkd_memory_line(job, len(links)), *_pending_report_lines(job),
                *filter(None, [check_ranks.idle_ranks_line(len(job.node_names()), num_ranks, "the network")])]
    if scenario == "repeater":
        configs = len(job.chain.configurations())
        nodes = max(job.chain.num_links) + 1
        idle = check_ranks.idle_ranks_line(nodes, num_ranks, "the longest chain")
        return [f"work: {configs} chain configuration(s) x {job.chain.num_pairs} end-to-end pairs",
                f"memory per rank: no state-vector register (pairs as small states); about "
                f"{size_words(nodes * CHAIN_BYTES_PER_NODE)} for the longest chain ({nodes:,} nodes, measured "
                f"~{CHAIN_BYTES_PER_NODE / 1000:g} kB per node), besides ~{BASE_RSS_BYTES / 1e6:.0f} MB of Python "
                "and its libraries", *([idle] if idle else [])]
    if scenario == "trotter":
        model, evolution = job.model, job.evolution
        sweep = job.simulation.sweep
        series = 1 + (len(sweep.values) if sweep is not None else 0)
        lines = [f"work: {model.num_sites} sites, {evolution.num_points} time point(s) x "
                 f"{evolution.steps_per_point} step(s), {series} network series x "
                 f"{count_of(job.simulation.trajectories, 'trajectory', 'trajectories')}"]
        network = _check_network(job, num_ranks)  # the job's own links (a sweep's other values: when it runs)
        # as the runs' plans hold communication qubits in the register
        extra, exact = trotter.teleport_extra_qubits(job, model.spin_model(), network)
        return (lines + _network_register_lines(job, model.num_sites, num_ranks, "site register", extra=extra,
                                                exact=exact)
                + _network_lines(job, num_ranks))
    if scenario == "cloud":
        network = _check_network(job, num_ranks)
        noisy = dqc.is_noisy(network)
        count = len(job.user_jobs) + (job.arrivals.num_jobs if job.arrivals is not None else 0)
        runs = job.simulation.trajectories
        per_job = "one per shot" if runs == "per_shot" else f"min({runs}, shots)"
        user_jobs = cloud.user_jobs_of(job)  # the circuits are built
        most = cloud.num_engine_runs(job, noisy=noisy, user_jobs=user_jobs)
        total = (f"at most {most:,} in all (fewer where a job's QPUs draw no noise)" if noisy
                 else f"{most:,} in all (noiseless QPUs)")
        circuits = len({id(user.circuit) for user in user_jobs})
        largest = cloud.largest_register(user_jobs, network, scheme=job.scheduler.distribution)
        register = [] if largest is None else _network_register_lines(
            job, largest.num_data_qubits, num_ranks, f"the largest, user job {largest.name}'s data register",
            extra=largest.num_qubits - largest.num_data_qubits - dqc.INITIAL_SCRATCH_QUBITS, exact=largest.exact)
        return [f"work: {count} user job(s) on {job.network.resolved_num_nodes()} QPU(s); engine runs per job: one "
                f"on noiseless QPUs, {per_job} on noisy ones, one per shot for a dynamic circuit: {total}",
                *register,
                f"memory per rank: one user job's register at a time (the line above), and about "
                f"{size_words(cloud.memory_bytes(user_jobs))} for the {count:,} user job(s) and their "
                f"{circuits:,} distinct circuit(s) (~{cloud.BYTES_PER_USER_JOB / 1000:g} kB a job, measured), "
                f"besides ~{BASE_RSS_BYTES / 1e6:.0f} MB of Python and its libraries; the output and the checkpoints "
                "hold a row or summary per user job (and its counts), not per engine run",
                *_network_lines(job, num_ranks)]
    return [f"work: scenario {scenario}"]


def _cached(folder, key: dict) -> bool:
    """Whether dqsim's disk cache ``folder`` (``None``: off) holds the LDPC code of ``key`` (a folder this
    process may not enter holds none it can load)."""
    if folder is None:
        return False
    try:
        return caches.entry_path(folder, ldpc.CODE_CACHE_KIND, key).is_file()
    except OSError:
        return False


def ldpc_code_lines(job, command: str) -> list[str]:
    """One line for a ``qkd`` job that reconciles with LDPC (none for others): the mother codes its run will take
    (:func:`dqsim.scenarios.qkd_codes.predicted_codes`: from its links' physics, those some block of the run takes
    with probability above :data:`dqsim.scenarios.qkd_codes.BUILD_PROBABILITY`), each with whether dqsim's disk cache holds it (:func:`dqsim.caches.cache_folder`) or the CPU seconds
    its build will take (:func:`dqsim.protocols.qkd.ldpc.build_seconds`, at a run's first block that takes it, on
    every rank), and ``command`` (``dqsim warmup JOB``), which builds them into the cache (until 2026-12-07, late
    night, an SPDC source's BBM92/E91 link with a dead time or afterpulses was not predicted: the line said why and
    that warmup found them with a pilot block); since 2026-12-07 (night), where ``dqsim warmup`` drew the run's own
    codes (:func:`dqsim.scenarios.qkd_codes.kept_drawn_codes`), those instead. A cache folder that cannot be
    written (:func:`dqsim.io.folder_problem`, found without making it) is named with its problem: every run then
    builds its codes and warmup fails. At most :data:`CHECK_LINK_LENGTHS` distinct link lengths are predicted from
    (the line says how many were left out)."""
    if not qkd_codes.reconciles_with_ldpc(job):
        return []
    folder = caches.cache_folder()
    problem = None if folder is None else io.folder_problem(folder)  # (as warmup's, without making the folder)
    seed = job.run.seed
    parts, missing, seconds = [], 0, 0.0
    drawn = None if problem is not None else qkd_codes.kept_drawn_codes(job)
    for num_bits, rate in (drawn if drawn is not None else qkd_codes.predicted_codes(job, CHECK_LINK_LENGTHS)):
        held = problem is None and _cached(folder, ldpc.code_key(seed, num_bits, rate))
        build = ldpc.build_seconds(num_bits, rate)
        parts.append(f"{num_bits:,} bits rate {rate:g} " + ("(cached)" if held else f"(~{build:.0f} CPU s to build)"))
        missing += not held
        seconds += 0.0 if held else build
    where = (f"DQSIM_CACHE_DIR={caches.CACHE_OFF}: each process builds its own" if folder is None
             else f"dqsim's cache {folder}")
    if problem is not None:
        where = f"dqsim's cache folder {folder} cannot be written ({problem})"
        todo = (f"so every run builds the codes it takes, up to ~{seconds:.0f} CPU s on each rank, and `{command}` "
                f"fails: point DQSIM_CACHE_DIR at a folder you can write that every node sees")
    elif missing and folder is not None:
        todo = (f"{count_of(missing, 'code')} not cached: up to ~{seconds:.0f} CPU s on each rank, at the first "
                f"blocks that take them, unless built first: run `{command}`")
    elif folder is not None:
        todo = "all cached"
    else:
        todo = f"up to ~{seconds:.0f} CPU s on each rank"
    distinct = qkd_codes.num_link_lengths(job)
    partial = ("" if distinct <= CHECK_LINK_LENGTHS else
               f"; codes predicted for {CHECK_LINK_LENGTHS} of {distinct:,} distinct link lengths (evenly spread): "
               f"the others' are built by `{command}` or at run time")
    if drawn is not None:
        return [f"LDPC codes (the run's own, drawn by `{command}`): {', '.join(parts)}; {where}; {todo}"]
    return [f"LDPC codes (predicted from the links' physics: those some block takes with probability above "
            f"{qkd_codes.BUILD_PROBABILITY:.0%}, a rarer one is built by its block): {', '.join(parts)}; {where}; "
            f"{todo}{partial}"]


def file_lines(job, prefix: str) -> list[str]:
    """Refuse the output and checkpoint folders that ``dqsim run`` would refuse before its work, without
    creating or writing anything; else the line saying where the run writes (raises DqsimError).

    As the run, the checkpoint folder is checked where the job asks for periodic checkpoints or it exists.
    Checked as this process sees the files, on this machine (a login node, perhaps): the message says so.
    A run of the same job (its checkpoints' ``prefix``) holding the folder's lock now
    (:func:`dqsim.engine.checkpoint.lock_holder`) is a note line, not a refusal (``slurm/run_step.sh``
    checks a requeued job while its predecessor may still end).
    """
    checked_where = f"checked from this machine, {platform.node() or 'this host'}"
    output = Path(job.run.output)
    io.check_output(output, checked_where)
    plan, directory = job.checkpoint, Path(job.checkpoint.directory)
    if not (plan.every_wall_s or plan.every_sim_s or directory.exists()):  # as dqsim run: not made before the work
        return [f"output: {output} can be written ({checked_where})"]
    reason = io.folder_problem(directory)
    if reason is not None:
        raise DqsimError(checkpoint.unwritable_directory(job.source, directory, f"{reason}; {checked_where}"))
    lines = [f"output: {output} and checkpoints in {directory}/ can be written ({checked_where})"]
    holder = checkpoint.lock_holder(directory, prefix)
    if holder is not None:  # a note, not a refusal: the holder may be a requeued run's predecessor, ending
        lines.append(f"note: another run of this job holds its checkpoints in {directory}/ now ({holder}); "
                     f"dqsim run waits {checkpoint.LOCK_WAIT_S:g} s for it to end, then refuses to start")
    return lines


def check_job(path: str, overrides: list[str], num_ranks: int, output: str | None = None, *,
              estimate_time: bool = False) -> list[str]:
    """The report of ``dqsim check`` (see the module docstring); ``output`` as ``dqsim run -o``;
    ``estimate_time``: the ``time:`` line, from a pilot of the job (:mod:`dqsim.cli.check_time`; about a second;
    ``dqsim check`` without ``--no-time``).

    Raises:
        DqsimError: the job would not run (one line).
    """
    startup_s = check_time.process_age_s()  # this command's start and imports, as a run's
    if num_ranks < 1:
        raise DqsimError(f"-n {num_ranks}: the number of ranks must be at least 1")
    user_overrides = list(overrides)
    overrides = user_overrides + ([f"run.output={json.dumps(output)}"] if output else [])
    job = jobs.load_job(path, overrides)
    backend_mod.usable_name(job.run.backend)  # as dqsim run: CuPy asked for where no GPU is usable is refused
    head = [f"# dqsim check {path}: valid ({job.scenario}); the resolved job, defaults filled in:"]
    lines = work_lines(job, num_ranks)
    lines += ldpc_code_lines(job, " ".join(["dqsim warmup", shlex.quote(path),
                                            *(f"--set {shlex.quote(each)}" for each in user_overrides)]))
    if estimate_time:
        lines.append(check_time.time_line(job, num_ranks, check_time.estimate(job, num_ranks, startup_s=startup_s)))
    lines += [f"warning: {line}" for line in job.warnings()]
    names = checkpoint_names(job)
    prefix, former = names.prefix, names.former_prefix
    files = file_lines(job, prefix)
    found = edited.edited_runs(job, job.checkpoint.directory, names, set_aside=True)  # dqsim-VERSION/ too
    if found:  # a file the job reads was edited in place since those were written
        files.append(f"note: {edited.check_line(found, job.checkpoint.directory, job)}")
    resumable = unfinished.check_line(job, names)
    if resumable is not None:  # dqsim run refuses to start over from them without --start-over
        files.append(resumable)
    others = edited.other_configurations(job, job.checkpoint.directory, names, found)
    if others:  # the job (or its --set) edited since those were written, or another job of the same name
        files.append(f"note: {edited.other_configurations_line(others, job.checkpoint.directory, job)}")
    body = to_toml(job.model_dump(mode="json"))
    identity = [f"# checkpoint prefix: {prefix} ([run].name and the resolved job's hash: its checkpoints are "
                f"{prefix}.ckptRRR-TTTT.h5)"]
    other = edited.former_of_other_contents(found, job.checkpoint.directory, names)
    if other is not None:  # not this job's: slurm/run_step.sh reads no prefix from this line
        identity.append(f"# checkpoint prefix before 2026-12-07, other contents: {former} (its newest checkpoint, "
                        f"{other.newest.name}, was written when {other.changed} had other contents: "
                        "slurm/run_step.sh does not resume it)")
    elif former != prefix:  # slurm/run_step.sh resumes a requeued job's checkpoints named so
        identity.append(f"# checkpoint prefix before 2026-12-07: {former} (the hash held the absolute paths of the "
                        "files the job reads, now their SHA-256)")
    return [*head, "", *body, "", *identity, *(f"# {line}" for line in files), f"# on {num_ranks} rank(s):",
            *(f"# {line}" for line in lines)]


def cmd_check(args) -> int:
    """``dqsim check JOB [--set ...] [-n RANKS]``."""
    try:
        lines = check_job(args.job, list(args.set), args.num_ranks, args.output,
                          estimate_time=not getattr(args, "no_time", False))
    except DqsimError as exc:
        for problem in getattr(exc, "problems", None) or [str(exc)]:  # a job file's problems, all of them
            print(f"dqsim: error: {problem}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    print("\n".join(lines))
    return 0

