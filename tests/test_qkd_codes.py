"""The LDPC codes a QKD job will take, predicted from its links' physics (dqsim/scenarios/qkd_codes.py).

The code :func:`ldpc.block_code` names is the one :func:`ldpc.reconciler`'s run takes; the codes predicted for the
example job (and a 4-link chain of it, whose links' first blocks take two codes where its one-link pilot took one)
hold every code its run builds, and so do those of BBM92/E91, Eve and afterpulses (since 2026-12-07, late
afternoon), and of a BBM92/E91 link behind receivers with a dead time and afterpulses (one pair a slot since
2026-12-07, night, an SPDC source since 2026-12-07, late night: until then its pilot block ran); ``dqsim warmup`` builds
the predicted codes without running a block, or, where that pays, the run's own codes drawn (the run with its
reconciliation left out: exactly those a real run of the seed builds); ``dqsim check``
names the codes, whether each is in the disk cache and its build time; :func:`caches.recorded_stores` keeps nothing outside its block.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from dqsim import caches, jobs
from dqsim import comm as comm_mod
from dqsim.backend import select
from dqsim.cli import check
from dqsim.protocols.qkd import detections, entangled, entangled_block, ldpc, nodes
from dqsim.scenarios import qkd, qkd_codes, warmup
from dqsim.scenarios.registry import run_job
from test_ldpc_code_cache import folder  # noqa: F401 (the fixture: a fresh disk cache, no code held in memory)

#: The small blind-LDPC job of tests/test_ldpc_code_cache.py: two blocks of ~7,000 key bits at 50 km.
SMALL = ["qkd.pulses=1000000", "qkd.batch_pulses=500000", "qkd.block_pulses=500000", 'qkd.error_correction="ldpc"']


def _job(*changes, path="jobs/bb84_decoy_50km.toml"):
    return jobs.apply_overrides(jobs.load_job(path), [*SMALL, *changes])


@pytest.mark.parametrize("num, qber, mode", [(3000, 0.02, "blind"), (3000, 0.05, "rate_adaptive"),
                                             (1500, 0.08, "blind")])
def test_block_code_is_the_code_the_reconciler_takes(num, qber, mode, monkeypatch):
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    rng = np.random.default_rng(num)
    alice = rng.integers(0, 2, num, dtype=np.uint8)
    bob = alice ^ (rng.random(num) < qber).astype(np.uint8)
    for estimate in (qber * 0.6, qber * 1.5):
        done = ldpc.reconciler(5, 1.16, sample_fraction=0.1, mode=mode)(alice, bob, estimate, rng)
        assert ldpc.block_code(num, estimate, 1.16, sample_fraction=0.1, mode=mode) == (done.code_bits,
                                                                                       done.mother_rate)


def _built_codes(job) -> set:
    """The codes a run of ``job`` builds (this process, nothing written)."""
    ldpc.mother_code.cache_clear()
    with caches.recorded_stores() as done:
        run_job(job, comm=comm_mod.SingleComm(), backend=select("numpy"))
    ldpc.mother_code.cache_clear()
    return {(key["num_bits"], key["rate"]) for kind, key, _how, _s in done if kind == ldpc.CODE_CACHE_KIND}


def test_the_predicted_codes_hold_every_code_the_run_builds(monkeypatch):
    """A 4-link chain of the small job: its links' blocks take the rate-0.8 and 0.85 codes, its one-link pilot took
    only the 0.85 one (tests/test_ldpc_code_cache.py): the prediction covers the spread of the estimate the pilot
    did not. (The example jobs, longer: bench/qkd_codes_predicted.py --compare.)"""
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    job = _job('qkd.network={topology="chain", num_nodes=5}')
    predicted = qkd_codes.predicted_codes(job)
    built = _built_codes(job)
    assert built and built <= set(predicted), (built, predicted)
    assert len(predicted) <= 4 and {n for n, _r in predicted} == {8192}     # not every code there is


def _drawn_runs(job, runs: int, rng) -> list[set]:
    """The codes of ``runs`` runs of ``job`` drawn from its links' physics, block by block: N and m Poisson about
    their expected values, k ~ Binomial(m, E), the code :func:`ldpc.block_code` (the reconciler's choice, tested
    above) names; sampled, not summed as :func:`qkd_codes.code_probabilities` does."""
    q = job.qkd
    blocks = [(qkd_codes.expected_block(job, distance, length), count)
              for (distance, length), count in qkd_codes._block_groups(job).items()]
    drawn = [set() for _run in range(runs)]
    for (num, sampled, qber), count in blocks:
        for _block in range(count):
            ms = rng.poisson(sampled, runs)
            estimates = (rng.binomial(ms, qber) + 1) / (ms + 2)
            for codes, n, estimate in zip(drawn, rng.poisson(num, runs).tolist(), estimates.tolist()):
                codes |= {ldpc.block_code(n, estimate, q.f_ec, sample_fraction=q.sample_fraction,
                                          mode=q.ldpc_mode)} - {None}
    return drawn


def test_the_sweep_s_predicted_codes_are_those_its_runs_take_not_a_box_around_them():
    """bb84_distance_sweep with LDPC (9 one-block points, 0-200 km): 1,000 runs drawn block by block. Every code
    predicted (probability above 1 % that a run takes it) is taken by some drawn run, every code more than 2 % of
    them take is predicted, the prediction is at most 5 times the codes a run takes on average (30 against ~7.3:
    the far points' estimates of a few dozen bits genuinely spread over many short codes), and the probabilities
    summed agree with the draws' shares (until 2026-12-07, afternoon: 43 codes, a box of ±3σ on k, N and m each,
    with codes no drawn run took and one, 362 bits rate 0.6, that 18 % took left out; the run of
    bench/results/qkd-codes-predicted-vm-20261207p.md built 8)."""
    job = jobs.apply_overrides(jobs.load_job("jobs/bb84_distance_sweep.toml"), ['qkd.error_correction="ldpc"'])
    predicted = set(qkd_codes.predicted_codes(job))
    drawn = _drawn_runs(job, 1000, np.random.default_rng(7))
    taken = {code: sum(code in run for run in drawn) / len(drawn) for code in set().union(*drawn)}
    assert predicted <= set(taken), sorted(predicted - set(taken))
    assert {code for code, share in taken.items() if share > 0.02} <= predicted
    assert len(predicted) <= 5 * np.mean([len(run) for run in drawn]), (len(predicted), taken)
    chances = qkd_codes.code_probabilities(job)
    for code, share in taken.items():    # the sum against the draws: 1,000 runs, 4 binomial σ and a fixed m's
        sigma = np.sqrt(max(share * (1 - share), 1e-3) / 1000)          # lattice (qkd_codes' docstring)
        assert abs(chances.get(code, 0.0) - share) <= 4 * sigma + 0.02, (code, chances.get(code), share)


def test_the_expected_block_matches_the_simulated_counts():
    """N, m and E of the closed form against the 50 km link's expected figures (Ma et al. 2005: QBER ≈ e_d = 1 %
    plus the dark counts' half; ~7,060 key bits in a block of 500,000 pulses at μ = 0.5, 10 dB, η_det 0.8)."""
    num, sampled, qber = qkd_codes.expected_block(_job(), 50.0, 500_000)
    assert 6900 < num < 7200 and abs(sampled / (num + sampled) - 0.1) < 1e-12 and 0.0099 < qber < 0.0102


def test_warmup_builds_the_predicted_codes_without_running_a_block(folder, monkeypatch):
    job = _job("qkd.pulses=200000", "qkd.block_pulses=100000", "qkd.batch_pulses=100000")    # codes of 2,048 bits

    def refuse(*_args, **_kwargs):
        raise AssertionError("the prediction runs no block")

    monkeypatch.setattr(warmup, "run_job", refuse)
    done = warmup.build_ldpc_codes(job)
    assert [(key["num_bits"], key["rate"]) for key, _how, _s in done] == qkd_codes.predicted_codes(job)
    assert {how for _key, how, _s in done} == {"made"} and all(key["seed"] == job.run.seed for key, _h, _s in done)
    ldpc.mother_code.cache_clear()
    assert {how for _key, how, _s in warmup.build_ldpc_codes(job)} == {"loaded"}


#: One pair a slot behind receivers with a dead time (3 slots at 1 GHz) and afterpulses, on each side.
DEAD_AND_AFTERPULSED = ["qkd.link.dead_time_ps=3000", "qkd.link.afterpulse_probability=0.05"]
#: An SPDC source (μ = 0.5) behind receivers with a dead time of 20 slots and 3 % afterpulses: its two sides' raw
#: clicks are correlated through the slot's pair number, so their receivers' states are too.
SPDC_DEAD_AND_AFTERPULSED = ["qkd.link.dead_time_ps=20000", "qkd.link.afterpulse_probability=0.03",
                             "qkd.source.mean_pair_number=0.5"]
#: Links behind receivers with a dead time or afterpulses (one pair a slot, SPDC, SPDC with afterpulses alone).
DEAD_LINKS = [("jobs/bbm92_20km.toml", DEAD_AND_AFTERPULSED), ("jobs/e91_chsh.toml", DEAD_AND_AFTERPULSED),
              ("jobs/bbm92_20km.toml", SPDC_DEAD_AND_AFTERPULSED), ("jobs/e91_chsh.toml", SPDC_DEAD_AND_AFTERPULSED),
              ("jobs/bbm92_finite_key.toml", ["qkd.link.afterpulse_probability=0.01",
                                              "qkd.source.mean_pair_number=0.1"])]


@pytest.mark.parametrize("path, changes", DEAD_LINKS)
def test_warmup_runs_no_pilot_for_links_behind_dead_time_and_afterpulses(path, changes, monkeypatch):
    """Since 2026-12-07 (night) the closed form covers a one-pair source's link whose receivers have a dead time and
    afterpulses (:func:`entangled.expected_registered_coincidences`), since 2026-12-07 (late night) an SPDC source's
    (:func:`dqsim.protocols.qkd.spdc_receivers.registered_pair_statistics`): ``dqsim warmup`` builds the predicted
    codes and runs no block (it ran the pilot before: ``run_job`` called, no code predicted)."""
    job = _job(*changes, path=path)
    ran, built = [], []
    monkeypatch.setattr(warmup, "run_job", lambda pilot, **_kw: ran.append(pilot))
    monkeypatch.setattr(ldpc, "mother_code", lambda seed, num_bits, rate: built.append((num_bits, rate)))
    monkeypatch.setattr(warmup, "should_draw", lambda _job, _predicted: False)     # the closed form's codes
    warmup.build_ldpc_codes(job)
    assert not ran and built == qkd_codes.predicted_codes(job) and built


#: The far half of bb84_distance_sweep (one block a point; 2 million pulses: a few hundred to ~6,000 key bits).
FAR_SWEEP = ['qkd.error_correction="ldpc"', "qkd.pulses=2000000", "qkd.batch_pulses=1000000",
             "qkd.sweep.distances_km=[100, 150, 175, 200]"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_drawn_codes_are_those_the_run_builds(seed, monkeypatch):
    """:func:`warmup.drawn_codes` (the run with its reconciliation left out) names exactly the codes a real run of
    the same seed builds, where the closed form's can only hold every code some seed's run takes: here 3-4 a run
    against its 15-16 (the estimates of 8-600 bits spread over many short codes)."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    job = jobs.apply_overrides(jobs.load_job("jobs/bb84_distance_sweep.toml"), [*FAR_SWEEP, f"run.seed={seed}"])
    drawn = warmup.drawn_codes(job)
    built = _built_codes(job)
    assert set(drawn) == built and len(drawn) == len(built), (drawn, built)
    predicted = qkd_codes.predicted_codes(job)
    assert built <= set(predicted) and len(predicted) >= 3 * len(built), (built, predicted)


def test_warmup_builds_the_sweep_s_own_codes_and_keeps_them(folder, monkeypatch):
    """bb84_distance_sweep with LDPC: the closed form predicts 30 codes (each some seed's run takes with probability
    above 1 %), a run takes ~7.3; where their builds cost more than a draw (:func:`warmup.should_draw`: ~29 CPU s
    expected wasted against ~2.4) ``dqsim warmup`` builds the run's own 8 (those bench/results/
    qkd-codes-predicted-vm-20261207p.md's run of seed 1 built), keeps them, and a second warm-up and ``dqsim check``
    find them without drawing again (until 2026-12-07, night: all 30 built)."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(folder))
    job = jobs.apply_overrides(jobs.load_job("jobs/bb84_distance_sweep.toml"), ['qkd.error_correction="ldpc"'])
    built = []

    def record(_seed, num_bits, rate):
        built.append((num_bits, rate))

    record.cache_clear = lambda: None       # (the folder fixture clears the codes held in memory after the test)
    monkeypatch.setattr(ldpc, "mother_code", record)
    warmup.build_ldpc_codes(job)
    assert built == [(65536, 0.85), (46341, 0.85), (16384, 0.85), (8192, 0.8), (2896, 0.75), (1024, 0.8),
                     (256, 0.75), (256, 0.5)]
    assert len(qkd_codes.predicted_codes(job)) == 30 and qkd_codes.kept_drawn_codes(job) == built

    def refuse(*_args, **_kwargs):
        raise AssertionError("the kept draw is loaded")

    monkeypatch.setattr(warmup, "run_job", refuse)
    again = built[:]
    built.clear()
    warmup.build_ldpc_codes(job)
    assert built == again
    line = check.ldpc_code_lines(job, "dqsim warmup J")[0]
    assert line.startswith("LDPC codes (the run's own, drawn by `dqsim warmup J`): 65,536 bits rate 0.85")
    assert line.count(" bits rate ") == 8


#: Example jobs and changes the closed form covers since 2026-12-07 (late afternoon): BBM92/E91 (one pair a slot,
#: an SPDC source), Eve on BB84 and BBM92, BB84's afterpulses with a dead time; BBM92/E91 behind a dead time and
#: afterpulses (:data:`DEAD_LINKS`: one pair a slot since 2026-12-07, night, an SPDC source since 2026-12-07, late
#: night).
NEWLY_COVERED = [("jobs/bbm92_20km.toml", []), ("jobs/e91_chsh.toml", []), ("jobs/bbm92_eve_intercept.toml", []),
                 ("jobs/bb84_eve_intercept.toml", []),
                 ("jobs/bbm92_finite_key.toml", ["qkd.source.mean_pair_number=0.2"]),
                 ("jobs/bb84_decoy_50km.toml", ["qkd.link.afterpulse_probability=0.05", "qkd.link.dead_time_ps=20000"]),
                 *DEAD_LINKS]


@pytest.mark.parametrize("path, changes", NEWLY_COVERED)
def test_the_predicted_codes_hold_every_code_the_run_builds_beyond_bb84(path, changes, monkeypatch):
    """Runs of 400,000 pulses (pair slots) in two blocks: every code the run builds was predicted (until
    2026-12-07, late afternoon, none was: these ran the pilot block)."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)
    job = _job(*changes, "qkd.pulses=400000", "qkd.batch_pulses=200000", "qkd.block_pulses=200000", path=path)
    predicted = qkd_codes.predicted_codes(job)
    built = _built_codes(job)
    assert predicted is not None and built <= set(predicted), (built, predicted)


def _sigmas(simulated: float, predicted: float, count: float) -> float:
    """How many binomial standard errors a simulated share of ``count`` lies from the predicted one."""
    return abs(simulated - predicted) / math.sqrt(max(predicted * (1.0 - predicted), 1e-9) / count)


@pytest.mark.parametrize("path, changes", [*NEWLY_COVERED, ("jobs/bbm92_eve_intercept.toml",
                                                            ['qkd.eve.basis="Z"', 'qkd.security="finite_key"'])])
def test_the_expected_block_matches_the_simulated_link_beyond_bb84(path, changes):
    """N + m (the sifted bits; BBM92 finite key: the Z–Z and X–X bits) and E of :func:`qkd_codes.expected_block`
    against 1,000,000 pulses (pair slots) drawn as the run draws them, within 4 standard errors (Poisson for the
    counts, binomial for the QBER); with Eve in Z the X–X bits err half the time and the Z–Z ones do not."""
    job = _job(*changes, path=path)
    plan, num = qkd.build_plan(job), 1_000_000
    phys = qkd.link_physics(job, 0, 0, 1, job.qkd.link.distance_km)
    key, sampled, qber = qkd_codes.expected_block(job, job.qkd.link.distance_km, num)
    finite = job.qkd.security == "finite_key"
    if plan.protocol == "bb84_decoy":
        batch, _state = detections.detect_batch(plan.source, channel=phys.channel, detector=phys.detector, eve=phys.eve,
                                                seed=3, start_pulse=0, num_pulses=num,
                                                noise_probability=phys.noise_probability,
                                                z_basis_probability=plan.source.z_basis_probability)
        c = detections.detection_counts(batch, plan.source.num_classes)
        counts = (sum(c.sifted_z), sum(c.sifted_x), sum(c.errors_x)) if finite else (c.sifted[0], None, c.errors[0])
    else:
        batch = nodes.entangled_batch(np, plan, phys, 0, num)
        c = entangled.sifted_statistics(batch)
        test = entangled_block.BBM92_TEST_PAIR
        counts = ((c.key_pair_sifted[entangled_block.BBM92_KEY_PAIR], c.key_pair_sifted[test], c.key_pair_errors[test])
                  if finite and plan.protocol == "bbm92" else (c.num_sifted, None, c.num_errors))
    first, second, errors = counts
    if second is None:
        assert abs(first - key - sampled) <= 4 * math.sqrt(key + sampled), (first, key + sampled)
        assert _sigmas(errors / first, qber, first) <= 4, (errors / first, qber)
    else:
        assert abs(first - key) <= 4 * math.sqrt(key) and abs(second - sampled) <= 4 * math.sqrt(sampled)
        assert _sigmas(errors / second, qber, second) <= 4, (errors / second, qber)
    if 'qkd.eve.basis="Z"' in changes:
        assert qber == pytest.approx(0.5, abs=0.01)


def _check_line(job_args, monkeypatch, folder) -> str:
    monkeypatch.setenv("DQSIM_CACHE_DIR", str(folder))
    lines = check.check_job(job_args[0], job_args[1:], 1)
    found = [line for line in lines if "LDPC codes" in line]
    assert len(found) == 1, lines
    return found[0]


def test_check_names_the_codes_whether_cached_and_their_build_time(folder, monkeypatch):
    args = ["jobs/bb84_decoy_50km.toml", *SMALL]
    job = _job()
    codes = qkd_codes.predicted_codes(job)
    line = _check_line(args, monkeypatch, folder)
    for num_bits, rate in codes:
        assert f"{num_bits:,} bits rate {rate:g} (~{ldpc.build_seconds(num_bits, rate):.0f} CPU s to build)" in line
    assert f"{len(codes)} codes not cached" in line and "dqsim warmup jobs/bb84_decoy_50km.toml --set" in line
    assert not folder.exists()                   # check writes nothing (its time pilot aside: not run here)
    num_bits, rate = codes[0]
    entry = caches.entry_path(folder, ldpc.CODE_CACHE_KIND, ldpc.code_key(job.run.seed, num_bits, rate))
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"")
    line = _check_line(args, monkeypatch, folder)
    assert f"{num_bits:,} bits rate {rate:g} (cached)" in line and f"{len(codes) - 1} codes not cached" in line
    cascade = check.check_job(args[0], args[1:-1], 1)
    assert not any("LDPC codes" in each for each in cascade)
    pairs = _check_line(["jobs/bbm92_20km.toml", *SMALL, *SPDC_DEAD_AND_AFTERPULSED], monkeypatch, folder)
    spdc_codes = qkd_codes.predicted_codes(_job(*SPDC_DEAD_AND_AFTERPULSED, path="jobs/bbm92_20km.toml"))
    assert "not predicted" not in pairs and f"{len(spdc_codes)} codes not cached" in pairs     # (until 2026-12-07,
    assert "dqsim warmup jobs/bbm92_20km.toml" in pairs                                    # late night: not predicted)


def test_the_store_records_nothing_outside_a_recording(monkeypatch):
    """A long process (a sweep) calls ``stored_arrays`` per code: nothing module-level grows with it (a log did,
    by an entry a call, until 2026-12-07, afternoon); a recording gets its own entries, nested ones each all."""
    monkeypatch.setenv("DQSIM_CACHE_DIR", caches.CACHE_OFF)

    def sizes() -> dict:
        return {name: len(value) for name, value in vars(caches).items() if isinstance(value, (list, dict, set))
                and not name.startswith("__")}

    before = sizes()
    for n in range(50):
        caches.stored_arrays("demo", {"n": n}, lambda: {"a": np.zeros(1)})
    assert sizes() == before
    with caches.recorded_stores() as outer:
        caches.stored_arrays("demo", {"n": 1}, lambda: {"a": np.zeros(1)})
        with caches.recorded_stores() as inner:
            caches.stored_arrays("demo", {"n": 2}, lambda: {"a": np.zeros(1)})
    assert [key["n"] for _k, key, _h, _s in outer] == [1, 2] and [key["n"] for _k, key, _h, _s in inner] == [2]
    assert sizes() == before


def _chain_of_lengths(count: int):
    """The small job on a trusted-node chain of ``count`` links, all of different lengths (10 km up, 0.25 km apart)."""
    distances = [10.0 + 0.25 * i for i in range(count)]
    return jobs.load_job("jobs/qkd_trusted_chain.toml", [*SMALL, f"qkd.network.num_nodes={count + 1}",
                                                        f"qkd.network.distances_km={distances}"]), distances


def test_check_predicts_the_codes_of_every_link_length_up_to_its_bound(monkeypatch):
    """A chain of 200 links, all of different lengths: check predicts from all 200 (32 of them, evenly spread, until
    2026-12-07, late afternoon, when each length cost ~0.06-0.4 s), and past :data:`check.CHECK_LINK_LENGTHS` from that
    many, the shortest and longest included, saying so. Warmup predicts from all."""
    job, distances = _chain_of_lengths(200)
    seen = []
    expected_block = qkd_codes.expected_block
    monkeypatch.setattr(qkd_codes, "expected_block",
                        lambda job, distance, pulses: seen.append(distance) or expected_block(job, distance, pulses))
    [line] = check.ldpc_code_lines(job, "dqsim warmup chain.toml")
    assert set(seen) == set(distances) and "distinct link lengths" not in line and "dqsim warmup chain.toml" in line
    seen.clear()
    monkeypatch.setattr(check, "CHECK_LINK_LENGTHS", 32)
    [line] = check.ldpc_code_lines(job, "dqsim warmup chain.toml")
    assert len(set(seen)) == 32 and {10.0, distances[-1]} <= set(seen)
    assert len(seen) <= 32 * len(qkd_codes.block_lengths(job))
    assert "codes predicted for 32 of 200 distinct link lengths" in line
    seen.clear()
    assert qkd_codes.predicted_codes(job) and len(set(seen)) == 200


def test_the_codes_of_many_blocks_at_once_are_those_of_each_block_alone(monkeypatch):
    """:func:`qkd_codes.code_probabilities` works out every block's terms in NumPy passes, a few blocks and terms at
    a time (here 3 blocks and 50 terms, to cross the chunks' edges): the same as ``1 - Π (1 - P_b)`` of each block's
    :func:`qkd_codes.block_code_probabilities` alone (two blocks of 500,000 pulses a link), and both the same as the
    scalar sum of the module docstring
    (every N of each term, :func:`ldpc.block_code`) on a block of 10,000 pulses."""
    job, distances = _chain_of_lengths(7)
    monkeypatch.setattr(qkd_codes, "BLOCKS_AT_ONCE", 3)
    monkeypatch.setattr(qkd_codes, "ROWS_AT_ONCE", 50)
    together = qkd_codes.code_probabilities(job)
    missed: dict = {}
    for distance in distances:
        for code, p in qkd_codes.block_code_probabilities(job, distance, 500_000).items():
            missed[code] = missed.get(code, 1.0) * (1.0 - p) ** 2
    assert together.keys() == missed.keys() and all(abs(together[c] - 1.0 + missed[c]) < 1e-12 for c in together)
    q = job.qkd
    num, sampled, qber = qkd_codes.expected_block(job, distances[0], 10_000)           # ~800 key bits, m ~90
    values, cumulative = qkd_codes._key_distribution(num)
    scalar: dict = {}
    for k, p_k in zip(*qkd_codes._error_points(round(sampled), qber)):    # m held at its mean (m < 1000: summed)
        estimate = (k + 1) / (round(sampled) + 2)
        for n, p_n in zip(values.tolist(), np.diff(cumulative)):
            code = ldpc.block_code(n, estimate, q.f_ec, sample_fraction=q.sample_fraction, mode=q.ldpc_mode)
            scalar[code] = scalar.get(code, 0.0) + p_k * p_n
    monkeypatch.setattr(qkd_codes, "MANY_SAMPLED", 0.0)                # m at its expected value, as above
    alone = qkd_codes.block_code_probabilities(job, distances[0], 10_000)
    assert {c for c, p in scalar.items() if p > 1e-9} - {None} == {c for c, p in alone.items() if p > 1e-9}
    assert all(abs(alone.get(code, 0.0) - p) < 1e-9 for code, p in scalar.items() if code is not None)


@pytest.mark.parametrize("mode", ["blind", "rate_adaptive"])
def test_block_codes_of_arrays_are_the_reconciler_s_choice_for_each(mode):
    """:func:`ldpc.block_codes` (NumPy over arrays of blocks) against the reconciler's own scalar path
    (:func:`ldpc._block_settings`, :func:`ldpc._rates_and_plan`, :func:`ldpc.frame_plan`) for 3,000 blocks of 0 to
    300,000 key bits and QBER estimates 10^-7 to 0.6, with and without a sample's margin and a frame limit."""
    rng = np.random.default_rng(5)
    num = np.concatenate([rng.integers(0, 400, 300), np.exp(rng.uniform(0.0, 12.6, 700)).astype(np.int64)])
    estimates = np.exp(rng.uniform(np.log(1e-7), np.log(0.6), num.size))
    for sample_fraction, frame_bits in ((0.1, None), (0.0, None), (0.2, 4096)):
        codes = ldpc.block_codes(num, estimates, 1.16, sample_fraction=sample_fraction, frame_bits=frame_bits,
                                 mode=mode)
        for n, e, frames, bits, rate in zip(num.tolist(), estimates.tolist(), codes.num_frames.tolist(),
                                            codes.code_bits.tolist(), codes.rate_index.tolist()):
            qber, target, start = ldpc._block_settings(n, min(0.5, e), 1.16, sample_fraction)
            plan = ldpc._rates_and_plan(n, min(0.5, qber), target, start, mode == "blind", frame_bits)[2]
            assert (frames, bits, ldpc.MOTHER_RATES[rate]) == (len(plan.sizes), plan.code_bits, plan.mother_rate)


def test_check_names_a_cache_folder_it_cannot_write_rather_than_sending_to_warmup(tmp_path, monkeypatch):
    """DQSIM_CACHE_DIR a file: until 2026-12-07 (afternoon) check said "2 codes not cached ... run `dqsim warmup`",
    which then failed on the folder."""
    blocker = tmp_path / "a_file"
    blocker.write_bytes(b"")
    line = _check_line(["jobs/bb84_decoy_50km.toml", *SMALL], monkeypatch, blocker)
    assert f"dqsim's cache folder {blocker} cannot be written (" in line and "not cached" not in line
    assert "every run builds the codes it takes" in line and blocker.read_bytes() == b""
