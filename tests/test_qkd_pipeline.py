"""A link's source emits key block after key block while earlier blocks are post-processed.

Until 2026-12-06 BB84's Alice (and BBM92/E91's source) emitted a block only after the block before it was
acknowledged, so a link lasted its emission plus every block's post-processing. Now each block's
post-processing runs in processes of its own (:class:`dqsim.protocols.qkd.nodes._AliceSource`), at most
``[qkd].max_blocks_in_postprocessing`` at once; the source waits only while that many are open.

With ``error_correction = "model"`` a block's post-processing is a fixed chain of messages after its
emission ends at e: BB84, the last report back at e + 2d, sifting match, estimate, key message and
acknowledgement, P = 6d (d = L·n_g/c); BBM92/E91, the last photon at Bob (1 - position)·d after e, his
report, then the same four messages, P = (1 - position)·d + 5d. Since 2026-12-07 (later that day) the reports,
sifting and estimation messages also take their bits at the classical rate (``tests/test_qkd_classical_channel.py``
times them), so P_k (``time_sifting_ps + time_estimation_ps + time_key_ps``) is at least those crossings
and differs from block to block. With blocks of T ps and a bound B the
source starts block k at s_k = max(e_{k-1}, a_{k-B}) (a_j = e_j + P_j, when block j's key exists), e_k = s_k + T;
B = 1 is the schedule before (s_k = k(T + P)). Keys, counts and QBERs do not depend on the schedule (the
random streams are counter-based per pulse and block).
"""

import pickle

import numpy as np
import pytest

from dqsim.errors import DqsimError
from dqsim.io import open_run
from dqsim.jobs import load_job
from dqsim.network.fibre import propagation_delay_ps
from dqsim.protocols.qkd import nodes
from dqsim.scenarios import qkd as qkd_scenario
from mpi_helper import ROOT, run_here, run_mpi
from run_files import checkpoints, node_record_bytes, same_tables

D_PS = propagation_delay_ps(20.0, 1.468)  # 20 km
T_PS = 100_000_000                        # a block of 1e5 pulses at 1 GHz
# 4 blocks of 1e5 pulses, batches of 5e4, 20 km, the leakage modelled (post-processing: fixed messages)
SMALL = ["--set", "qkd.pulses=400000", "--set", "qkd.block_pulses=100000", "--set", "qkd.batch_pulses=50000",
         "--set", 'qkd.error_correction="model"']
BB84 = ["jobs/bb84_decoy_50km.toml", *SMALL, "--set", "qkd.link.distance_km=20.0"]
BBM92 = ["jobs/bbm92_20km.toml", *SMALL]
TABLES = ["blocks", "links", "end_to_end", "timeline"]


def schedule(num_blocks: int, block_ps: int, post_ps: list[int], bound: int):
    """(start, key) of each block and the source's wait before it: s_k = max(e_{k-1}, a_{k-B}), a_k = e_k + P_k."""
    starts, keys, waits, end = [], [], [], 0
    for k in range(num_blocks):
        start = max(end, keys[k - bound]) if k >= bound else end
        waits.append(start - end)
        starts.append(start)
        end = start + block_ps
        keys.append(end + post_ps[k])
    return starts, keys, waits


def post_ps(blocks) -> list[int]:
    """Each block's post-processing, from its emission's end to its key, ps (P_k of the module docstring)."""
    return [int(b["time_sifting_ps"] + b["time_estimation_ps"] + b["time_key_ps"]) for b in blocks]


def _run(tmp_path, name, job, *more):
    run_here(["run", *job, "-o", tmp_path / f"{name}.h5", "--quiet", *more])
    return open_run(tmp_path / f"{name}.h5")


def test_repro_the_source_emits_on_while_blocks_are_post_processed(tmp_path):
    """BB84, 4 blocks of 0.1 ms at 20 km, post-processing P_k >= 6d = 0.59 ms each: the link ends at
    max (k + 1)T + P_k (before 2026-12-06: the sum of every block's T + P_k), block k starts at kT and its key
    exists at (k + 1)T + P_k, and the source never waits (4 blocks open at most, the bound is 16)."""
    run = _run(tmp_path, "bb84", BB84)
    blocks, link = run.table("blocks"), run.table("links")
    post = post_ps(blocks)
    assert all(p > 6 * D_PS for p in post)  # the crossings, and the reports', sifting's and estimation's bits
    keys = [(k + 1) * T_PS + post[k] for k in range(4)]
    assert link["simulated_time_ps"][0] == max(keys) < sum(T_PS + p for p in post)
    assert list(blocks["block_start_ps"]) == [k * T_PS for k in range(4)]
    assert list(blocks["key_ready_ps"]) == keys
    assert list(blocks["source_wait_ps"]) == [0] * 4
    assert run.table("end_to_end")["key_available_ps"][0] == max(keys)
    assert "qkd-source-wait" not in set(run.table("timeline")["kind"])


@pytest.mark.parametrize("protocol,bound", [("bb84", 1), ("bb84", 2), ("bbm92", 2)])
def test_a_bounded_post_processing_store_holds_the_source_as_the_closed_form_says(tmp_path, protocol, bound):
    """At most B blocks in post-processing: the blocks' starts, keys and waits and the link's end follow
    s_k = max(e_{k-1}, a_{k-B}); the waits are in the timeline; B = 1 is the schedule before 2026-12-06.
    BBM92 also checks that Bob follows the waiting source (his photons' times come from it, no message)."""
    job = BB84 if protocol == "bb84" else BBM92
    crossings = 6 * D_PS if protocol == "bb84" else round(0.5 * D_PS) + 5 * D_PS
    run = _run(tmp_path, "run", job, "--set", f"qkd.max_blocks_in_postprocessing={bound}")
    blocks = run.table("blocks")
    post = post_ps(blocks)
    assert all(p > crossings for p in post)
    starts, keys, waits = schedule(4, T_PS, post, bound)
    assert list(blocks["block_start_ps"]) == starts
    assert list(blocks["key_ready_ps"]) == keys
    assert list(blocks["source_wait_ps"]) == waits and sum(waits) > 0
    assert run.table("links")["simulated_time_ps"][0] == max(keys)
    timeline = run.table("timeline")
    waited = timeline["time_ps"][timeline["kind"] == "qkd-source-wait"]
    assert list(waited) == [s for s, w in zip(starts, waits) if w]


def test_keys_are_those_of_the_waiting_source_and_a_resume_inside_the_pipeline_on_two_ranks_gives_them(tmp_path):
    """Bound 2 (the source waits at times): the tables but the time columns are those of bound 1 (the schedule
    before), bit for bit; on 2 ranks, and resumed on 2 ranks from 1-rank checkpoints taken while the source
    emits with a block in post-processing and while it waits for one, they are those of the 1-rank run, times
    included."""
    folder = tmp_path / "ck"
    job = [*BB84, "--set", "qkd.max_blocks_in_postprocessing=2"]
    one = _run(tmp_path, "one", job, "--set", "checkpoint.every_sim_s=0.00015", "--set", "checkpoint.keep=100",
               "--set", f'checkpoint.directory="{folder}"')
    serial = _run(tmp_path, "serial", BB84, "--set", "qkd.max_blocks_in_postprocessing=1")
    times = {"time_pulses_ps", "time_sifting_ps", "time_estimation_ps", "time_key_ps", "block_start_ps",
             "key_ready_ps", "source_wait_ps"}
    for name in ("blocks", "links"):
        a, b = one.table(name), serial.table(name)
        for field in a.dtype.names:
            if field not in times | {"simulated_time_ps", "preshared_auth_key_bits"}:  # (the blocks' overlap)
                assert np.array_equal(a[field], b[field], equal_nan=a[field].dtype.kind == "f"), (name, field)
    inside, waiting = [], []
    for path in checkpoints(folder):
        record = pickle.loads(node_record_bytes(path, 0))
        source = record["processes"][0].process
        open_blocks = [h.process for h in record["processes"][1:] if h.process is not None and not h.done]
        if source.phase == "emit" and source.batch > 0 and open_blocks:
            inside.append(path)
        waiting += [path] * (source.phase == "slot")
    assert inside, "no checkpoint while the source emits with a block in post-processing"
    assert waiting, "no checkpoint while the source waits for a block to leave post-processing"
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", "run", *job, "-o", str(tmp_path / "two.h5"), "--quiet",
                "--then", "resume", str(inside[0]), "-o", str(tmp_path / "resumed.h5"), "--quiet",
                "--then", "resume", str(waiting[0]), "-o", str(tmp_path / "waiting.h5"), "--quiet"],
            cwd=ROOT, timeout_s=240)
    for name in ("two", "resumed", "waiting"):
        same_tables(one, open_run(tmp_path / f"{name}.h5"), TABLES)


@pytest.mark.parametrize("side", ["bb84-alice", "bb84-bob", "entangled-alice", "entangled-bob"])
def test_a_checkpoint_of_the_source_that_waited_for_every_block_is_refused_in_one_line(side):
    """A process pickled before 2026-12-06 (no ``open_blocks`` / ``blocks_handed``): one process held a block's
    emission and its post-processing, and its block times followed the wait, so it is refused."""
    entangled = side.startswith("entangled")
    job = load_job(ROOT / "jobs" / ("bbm92_20km.toml" if entangled else "bb84_decoy_50km.toml"))
    plan = qkd_scenario.build_plan(job)
    phys = qkd_scenario.link_physics(job, 0, *job.network_links(None)[0])
    kind = {"bb84-alice": nodes.Bb84Alice, "bb84-bob": nodes.Bb84Bob, "entangled-alice": nodes.EntangledAlice,
            "entangled-bob": nodes.EntangledBob}[side]
    process = kind(plan, phys)
    assert pickle.loads(pickle.dumps(process)).phase == process.phase  # today's resumes
    state = dict(process.__dict__)
    del state["blocks_handed" if side.endswith("bob") else "open_blocks"]
    old = object.__new__(kind)
    with pytest.raises(DqsimError, match="waited for each key block's post-processing") as info:
        old.__setstate__(state)
    assert "\n" not in str(info.value)


def test_a_sweep_s_distance_finished_by_the_waiting_source_is_refused_in_one_line():
    """A tally pickled before 2026-12-06 (no ``waits_ps``) holds the waiting source's times: a resumed sweep would
    keep them beside the new ones, so its stored distance is refused; a tally pickled now is not."""
    new = pickle.loads(pickle.dumps(nodes.LinkTally(pulses=7)))
    old = nodes.LinkTally(pulses=7)
    del old.waits_ps, old.source_schedule  # what a tally pickled before 2026-12-06 holds
    old = pickle.loads(pickle.dumps(old))
    assert (new.source_schedule, old.source_schedule) == (nodes.SOURCE_SCHEDULE, nodes.OLD_SOURCE_SCHEDULE)
    nodes.refuse_waiting_source_tallies([new])
    with pytest.raises(DqsimError, match="waited for each key block's post-processing") as info:
        nodes.refuse_waiting_source_tallies([new, old])
    assert "\n" not in str(info.value)
