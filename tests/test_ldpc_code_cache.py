"""The disk cache of built LDPC mother codes (dqsim/caches.py ``stored_arrays``, dqsim/protocols/qkd/ldpc.py).

A code loaded from the cache equals the one built without it, bit for bit, and so does a reconciliation with it; a
damaged file, or one holding another code, is built again and replaced with one warning line; processes that write
one entry at once leave one whole file (and one that finds the entry written while it made it keeps it); a file
removed while read is read again without a word; stale temporary files go; ``dqsim warmup JOB`` builds a job's
codes (predicted from its links, tests/test_qkd_codes.py) and a second warm-up loads them; a built code is pinned to
``ldpc.CODE_CONSTRUCTION`` and its key moves with its stream's event.
(Two ranks writing the same entry in a real run: tests/test_qkd_ldpc.py,
``test_ldpc_gives_the_same_tables_on_one_and_two_ranks``.)
"""

from __future__ import annotations

import errno
import hashlib
import io
import multiprocessing
import os
import time
import zipfile

import numpy as np
import pytest

from dqsim import caches, jobs
from dqsim import comm as comm_mod
from dqsim.backend import select
from dqsim.protocols.qkd import ldpc
from dqsim.scenarios import warmup
from dqsim.scenarios.registry import run_job
from mpi_helper import run_here

#: A small code (built in ~0.1 s) and its arguments.
SEED, BITS, RATE = 3, 1024, 0.8


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A fresh cache folder for this test, and no code held in memory before or after it."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(tmp_path / "cache"))
    ldpc.mother_code.cache_clear()
    yield tmp_path / "cache"
    ldpc.mother_code.cache_clear()


#: SHA-256 of the arrays of ``_build_graph(SEED, BITS, RATE)`` (names in order, each as little-endian int64) by
#: (:data:`dqsim.protocols.qkd.ldpc.CODE_CONSTRUCTION`, NumPy's major.minor): a change that changes a built code
#: fails here until CODE_CONSTRUCTION is raised (and the new value pinned), so that kept codes are not loaded.
GOLDEN_CODES = {(1, "2.4"): "934c116387e52dff50df3bba2a4774ed92d0cd832315052b6e7f7205c1a76e6b"}


def _code(puncturing="untainted"):
    ldpc.mother_code.cache_clear()
    return ldpc.mother_code(SEED, BITS, RATE, puncturing)


def _arrays(code) -> list:
    return [code.check_start, code.edge_var, code.order, code.layers().order, code.layers().edges]


def _entry(folder):
    return caches.entry_path(folder, ldpc.CODE_CACHE_KIND, ldpc.code_key(SEED, BITS, RATE))


def _same(one, other) -> bool:
    return all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(_arrays(one), _arrays(other)))


def test_a_code_loaded_from_the_cache_equals_the_one_built_without_it(folder, monkeypatch):
    built = {p: _code(p) for p in ldpc.PUNCTURINGS}             # cold: built and written
    assert _entry(folder).is_file() and len(list(folder.rglob("*"))) == 2   # the kind's folder and one file
    with caches.recorded_stores() as done:
        loaded = {p: _code(p) for p in ldpc.PUNCTURINGS}        # warm: loaded
    assert [how for _kind, _key, how, _s in done] == ["loaded", "loaded"]
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    plain = {p: _code(p) for p in ldpc.PUNCTURINGS}             # no disk cache at all
    for p in ldpc.PUNCTURINGS:
        assert _same(built[p], loaded[p]) and _same(built[p], plain[p]), p


def test_a_reconciliation_with_a_cached_code_is_the_same_bit_for_bit(folder, monkeypatch):
    rng = np.random.default_rng(4)
    alice = rng.integers(0, 2, 700, dtype=np.uint8)
    bob = alice ^ (rng.random(700) < 0.03).astype(np.uint8)

    def run():
        ldpc.mother_code.cache_clear()
        r = ldpc.reconcile(alice, bob, 0.03, seed=SEED, efficiency=1.3, mode="blind", frame_bits=BITS)
        return (r.corrected.tolist(), r.kept.tolist(), r.leakage_bits, r.rounds, r.iterations, r.revealed_bits,
                r.mother_rate, r.code_bits)

    cold, warm = run(), run()
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    assert cold == warm == run()
    assert cold[6] == RATE and cold[7] == BITS and cold[3] > 0       # the code of these tests, with round trips


@pytest.mark.parametrize("damage", ["truncated", "garbage", "another code", "edited"])
def test_a_damaged_cache_file_is_built_again_with_one_warning_line(folder, capsys, damage):
    good = _code()
    path = _entry(folder)
    whole = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(whole[:len(whole) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file")
    elif damage == "another code":                    # a whole entry of another key under this name
        other = caches.entry_path(folder, ldpc.CODE_CACHE_KIND, ldpc.code_key(SEED + 1, BITS, RATE))
        ldpc.mother_code(SEED + 1, BITS, RATE)
        path.write_bytes(other.read_bytes())
    else:                                             # an array changed, the checksum left as it was
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        arrays["edge_var"] = arrays["edge_var"][::-1].copy()
        with open(path, "wb") as out:
            np.savez(out, **arrays)
    capsys.readouterr()
    again = _code()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"dqsim: warning: cache file {path}: ") and "made again" in err[0]
    assert _same(good, again)
    capsys.readouterr()
    assert _same(good, _code()) and capsys.readouterr().err == ""     # replaced: loads without a word
    assert not list(path.parent.glob("*.tmp"))


def _write_at_once(folder, barrier, out):
    """One of several processes building the same entry at once (every one misses the cache, then writes)."""
    os.environ["DQSIM_CACHE_DIR"] = str(folder)
    ldpc.mother_code.cache_clear()

    def make():
        barrier.wait(timeout=60)         # every process has missed the cache before any writes
        return ldpc._build_graph(SEED, BITS, RATE)

    arrays = caches.stored_arrays(ldpc.CODE_CACHE_KIND, ldpc.code_key(SEED, BITS, RATE), make)
    out.put(arrays["edge_var"].tobytes())


def test_processes_writing_one_entry_at_once_leave_one_whole_file(folder):
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(3), context.Queue()
    workers = [context.Process(target=_write_at_once, args=(folder, barrier, out)) for _ in range(3)]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    files = sorted(p.name for p in _entry(folder).parent.iterdir())
    assert files == [_entry(folder).name]                       # one file, no temporary left
    assert len(set(results)) == 1 and _code().edge_var.tobytes() == results[0]
    with np.load(_entry(folder)) as data:
        assert str(data["key"]) == caches._key_text(ldpc.code_key(SEED, BITS, RATE))


def test_an_unwritable_cache_folder_warns_once_and_still_builds(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a file"
    blocker.write_text("")
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(blocker / "cache"))      # under a file: cannot be made
    monkeypatch.setattr(caches, "_UNWRITABLE", set())
    made = [caches.stored_arrays("demo", {"n": n}, lambda n=n: {"a": np.arange(n)})["a"].tolist() for n in (2, 3)]
    assert made == [[0, 1], [0, 1, 2]]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("dqsim: warning: cannot keep demo in the cache folder ")
    assert "DQSIM_CACHE_DIR" in caches.folder_problem()


#: A small blind-LDPC job (one block of ~7,000 key bits: one code of 8,192 bits).
LDPC_JOB = ["jobs/bb84_decoy_50km.toml", "--set", "qkd.pulses=1000000", "--set", "qkd.batch_pulses=500000",
            "--set", "qkd.block_pulses=500000", "--set", 'qkd.error_correction="ldpc"']


def test_warmup_builds_a_job_s_codes_and_a_second_warmup_loads_them(folder):
    """The job's own codes, drawn (tests/test_qkd_codes.py; since 2026-12-07, night, where building the four of
    8,192 bits its link's physics predicts, the estimate of a sample of ~780 bits spreading over four rates, would
    cost more than drawing the run): its two blocks take the rate-0.85 and 0.8 codes."""
    first = run_here(["warmup", *LDPC_JOB]).stdout.splitlines()
    built = [line for line in first if "rate" in line]
    assert len(built) == 2 and all("8,192 bits" in line and ": built" in line for line in built), first
    assert {line.split("rate ")[1].split(",")[0] for line in built} == {"0.85", "0.8"}, built
    assert first[-1] == f"dqsim warmup: 2 LDPC codes in dqsim's cache: {folder}"
    assert len(list((folder / ldpc.CODE_CACHE_KIND).iterdir())) == 2
    ldpc.mother_code.cache_clear()
    second = [line for line in run_here(["warmup", *LDPC_JOB]).stdout.splitlines() if "rate" in line]
    codes = [line.split(": built")[0] for line in built]     # "dqsim warmup:   8,192 bits, rate R, seed 1"
    assert [line.split(": loaded from the cache in ")[0] for line in second] == codes, second
    cascade = run_here(["warmup", *LDPC_JOB[:-2]]).stdout       # Cascade: no codes, no code lines
    assert "LDPC" not in cascade


def test_a_built_code_is_the_one_pinned_for_its_construction_version():
    numpy_version = ".".join(np.__version__.split(".")[:2])
    pinned = GOLDEN_CODES.get((ldpc.CODE_CONSTRUCTION, numpy_version))
    if pinned is None and any(c == ldpc.CODE_CONSTRUCTION for c, _v in GOLDEN_CODES):
        pytest.skip(f"no code pinned for NumPy {numpy_version} (its streams may differ)")
    assert pinned is not None, f"pin the code of CODE_CONSTRUCTION = {ldpc.CODE_CONSTRUCTION} in GOLDEN_CODES"
    arrays = ldpc._build_graph(SEED, BITS, RATE)
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(np.ascontiguousarray(arrays[name]).astype("<i8").tobytes())
    assert digest.hexdigest() == pinned, "the built code changed: raise ldpc.CODE_CONSTRUCTION and pin the new code"


def test_the_key_moves_with_the_rate_s_place_in_the_mother_rates(monkeypatch):
    """A row added to DEGREE_TABLE below a rate moves the rate's stream event, so its code: so must its key."""
    before = ldpc.code_key(SEED, BITS, RATE)
    lam, rho = ldpc.DEGREE_TABLE[ldpc.MOTHER_RATES[0]]
    monkeypatch.setitem(ldpc.DEGREE_TABLE, 0.45, (lam, rho))
    monkeypatch.setattr(ldpc, "MOTHER_RATES", tuple(sorted(ldpc.DEGREE_TABLE)))
    assert ldpc.code_key(SEED, BITS, RATE) != before


def test_the_tests_keep_their_arrays_out_of_the_user_s_cache_folder():
    """tests/conftest.py points DQSIM_CACHE_DIR at a folder of the test run (the user's own cache untouched)."""
    without = {name: value for name, value in os.environ.items() if name != "DQSIM_CACHE_DIR"}
    assert caches.cache_folder() is not None and caches.cache_folder() != caches.cache_folder(without)


def _demo(folder, make=lambda: {"a": np.arange(3)}):
    return caches.stored_arrays("demo", {"n": 3}, make, {"DQSIM_CACHE_DIR": str(folder)})


def test_a_header_claiming_a_huge_array_is_made_again_with_one_warning_line(tmp_path, capsys):
    """A damaged ``.npy`` header inside the entry can make NumPy allocate terabytes (MemoryError): made again."""
    _demo(tmp_path)
    path = caches.entry_path(tmp_path, "demo", {"n": 3})
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<i8", "fortran_order": False, "shape": (10 ** 13,)})
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w") as member:
                if name == "a":
                    member.write(header.getvalue() + array.tobytes())
                else:
                    np.lib.format.write_array(member, array)
    capsys.readouterr()
    assert _demo(tmp_path)["a"].tolist() == [0, 1, 2]
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "does not load" in err[0] and "made again" in err[0], err
    assert _demo(tmp_path, lambda: 1 / 0)["a"].tolist() == [0, 1, 2]           # replaced: loads


def test_an_entry_another_process_wrote_while_this_one_made_it_is_kept(tmp_path):
    path, written = caches.entry_path(tmp_path, "demo", {"n": 3}), []

    def make():            # another rank writes the whole entry while this one makes it
        arrays = {"a": np.arange(3)}
        assert caches._write(path, caches._key_text({"n": 3}), arrays) is None
        written.append(path.stat().st_ino)
        return arrays

    _demo(tmp_path, make)
    assert path.stat().st_ino == written[0]                    # not written again
    assert _demo(tmp_path, lambda: 1 / 0)["a"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("code", [errno.ENOENT, errno.ESTALE])
def test_an_entry_replaced_while_read_is_read_again_without_a_word(tmp_path, monkeypatch, capsys, code):
    _demo(tmp_path)
    real, calls = np.load, []

    def load_once_gone(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    monkeypatch.setattr(caches.np, "load", load_once_gone)
    capsys.readouterr()
    assert _demo(tmp_path, lambda: 1 / 0)["a"].tolist() == [0, 1, 2] and len(calls) == 2     # loaded, not made
    assert capsys.readouterr().err == ""


def test_writing_an_entry_removes_temporary_files_over_a_day_old(tmp_path):
    kind = tmp_path / "demo"
    kind.mkdir()
    old, fresh = kind / "dead.1.tmp", kind / "writing.2.tmp"
    for temporary in (old, fresh):
        temporary.write_bytes(b"half")
    os.utime(old, (time.time() - 2 * caches.STALE_SECONDS,) * 2)
    _demo(tmp_path)
    assert not old.exists() and fresh.exists()


def _ldpc_job(*changes):
    return jobs.apply_overrides(jobs.load_job(LDPC_JOB[0]), [arg for arg in LDPC_JOB[1:] if arg != "--set"]
                                + list(changes))


@pytest.mark.parametrize("changes, links", [
    (['qkd.network={topology="chain", num_nodes=64}'], [(50.0,)]),
    (['qkd.network={topology="star", num_nodes=6}', "qkd.network.distances_km=[10, 20, 10, 10, 20]"],
     [(10.0, 20.0)]),
    (["qkd.sweep.distances_km=[10, 20, 30]"], [(10.0, 20.0, 30.0)]),  # a repeated entry is refused since 2026-12-07
    ([], [(50.0,)]),
])
def test_the_ldpc_pilot_runs_one_first_block_a_distinct_distance(changes, links):
    job = _ldpc_job(*changes)
    pilot = warmup.ldpc_pilot_job(job)
    assert [tuple(pilot.qkd.distances_km())] == links
    assert pilot.qkd.pulses == pilot.qkd.block_pulses == 500_000
    if job.qkd.network is not None:
        assert pilot.qkd.network.topology == job.qkd.network.topology


def test_the_one_link_pilot_builds_codes_of_the_links_first_blocks(monkeypatch):
    """A chain of 4 links of one length: the pilot (one link) asks for codes the first blocks of the four ask for
    (not all of them: here the four ask for the rate-0.8 and 0.85 codes, the pilot's link the 0.85 one; the 0.8
    one is built at run time, then kept)."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    job = _ldpc_job('qkd.network={topology="chain", num_nodes=5}')
    every_link = jobs.apply_overrides(job, ["qkd.pulses=500000"])

    def keys(run) -> set:
        ldpc._clear_codes()
        with caches.recorded_stores() as done:
            run_job(run, comm=comm_mod.SingleComm(), backend=select("numpy"))
        ldpc._clear_codes()
        return {caches._key_text(key) for kind, key, _how, _s in done if kind == ldpc.CODE_CACHE_KIND}

    pilot = warmup.ldpc_pilot_job(job)
    assert pilot.qkd.network.num_nodes == 2 and set() != keys(pilot) <= keys(every_link)
