"""``[qkd.network].end_to_end_pairs`` (since 2026-12-07, late night): which pairs of a star's leaves get
``end_to_end`` and ``relay_links`` rows, ``"all"`` (the default), ``"none"`` or a list, so that a star of chosen
pairs takes up to 65,536 nodes as a chain does (``"all"`` stays at 4,096: a row per pair of leaves). The rows kept
are those ``"all"`` gives, the same on 1 and 2 ranks. Figures: bench/results/qkdstar-vm-20261207s.md.
"""

import pytest

from dqsim.errors import ConfigError
from dqsim.io import open_run
from dqsim.jobs import load_job_text
from dqsim.jobs.qkd import MAX_END_TO_END_PAIRS, MAX_QKD_NODES, MAX_QKD_STAR_NODES, QkdNetworkSection
from mpi_helper import run_here, run_mpi
from run_files import same_tables

JOB = ('[run]\nname = "s"\nscenario = "qkd"\n[qkd.link]\ndistance_km = 5\n[qkd.network]\ntopology = "{topology}"\n'
       'num_nodes = {nodes}\n')


def network(nodes: int, pairs: str | None = None, topology: str = "star"):
    """The ``[qkd.network]`` of a job with ``end_to_end_pairs = PAIRS`` (TOML text; ``None``: not given)."""
    text = JOB.format(topology=topology, nodes=nodes) + (f"end_to_end_pairs = {pairs}\n" if pairs else "")
    return load_job_text(text).qkd.network


@pytest.mark.parametrize("pairs, topology, wording", [
    ('"some"', "star", 'end_to_end_pairs = "some": must be "all", "none" or a list of [leaf_a, leaf_b] pairs '
                       '(leaves 1..5)'),
    ("3", "star", "end_to_end_pairs = 3: must be"),
    ("[[1, 2], [2]]", "star", "end_to_end_pairs[1] = [2]: must be a pair [leaf_a, leaf_b] of leaves 1..5"),
    ("[[1, 2.0]]", "star", "end_to_end_pairs[0] = [1, 2.0]: must be a pair"),
    ("[[1, 6]]", "star", "end_to_end_pairs[0] = [1, 6]: names a node that is not a leaf of this star: leaves 1..5 "
                         "(0 is the hub)"),
    ("[[0, 2]]", "star", "end_to_end_pairs[0] = [0, 2]: names a node that is not a leaf"),
    ("[[2, 2]]", "star", "end_to_end_pairs[0] = [2, 2]: names one leaf twice"),
    ("[[2, 3], [4, 5], [3, 2]]", "star", "end_to_end_pairs[2] = [3, 2]: repeats the pair of entry 0 (a pair is "
                                         "unordered)"),
    ('"none"', "chain", 'end_to_end_pairs = "none": applies to a star only: a chain has one route, between its two '
                        'ends (allowed: "all")'),
    ("[[1, 2]]", "chain", "end_to_end_pairs = [[1, 2]]: applies to a star only"),
])
def test_a_bad_end_to_end_pairs_is_refused_in_one_line_naming_key_value_and_what_is_allowed(pairs, topology,
                                                                                             wording):
    with pytest.raises(ConfigError, match="^<string>: \\[qkd.network\\]\\.") as refused:
        network(6, pairs, topology)
    assert wording in str(refused.value) and "\n" not in str(refused.value)


def test_too_long_a_list_of_pairs_is_refused_with_its_length_not_its_pairs():
    """(The section itself: a job file of 65,537 pairs takes seconds to parse.)"""
    with pytest.raises(ValueError) as refused:
        QkdNetworkSection(topology="star", num_nodes=MAX_QKD_NODES, end_to_end_pairs=[[1, 2]] * (MAX_END_TO_END_PAIRS
                                                                                                  + 1))
    assert f"lists {MAX_END_TO_END_PAIRS + 1:,} pairs, at most {MAX_END_TO_END_PAIRS:,}" in str(refused.value)
    assert len(str(refused.value)) < 800


def test_a_star_of_chosen_pairs_takes_a_chain_s_nodes_and_all_pairs_stays_at_4096_with_a_line_saying_choose():
    """Before: ``num_nodes`` > 4,096 refused for every star, and ``end_to_end_pairs`` an unknown key."""
    for pairs in ('"none"', f"[[1, {MAX_QKD_NODES - 1}], [7, 3]]", "[]"):
        assert network(MAX_QKD_NODES, pairs).num_nodes == MAX_QKD_NODES
    assert network(MAX_QKD_STAR_NODES).end_to_end_pairs == "all"  # the default, as before
    for pairs in (None, '"all"'):
        with pytest.raises(ConfigError, match="num_nodes = 4097: must be <= 4,096 for a star whose end_to_end_pairs "
                                              "is \"all\".*choose the pairs, \\[qkd.network\\].end_to_end_pairs = "
                                              "\"none\" or a list of \\[leaf_a, leaf_b\\] pairs, to take up to 65,536"):
            network(MAX_QKD_STAR_NODES + 1, pairs)
    with pytest.raises(ConfigError, match="num_nodes = 65537: must be <= 65536"):
        network(MAX_QKD_NODES + 1, '"none"')


def test_the_chosen_pairs_are_unordered_in_all_s_order():
    chosen = network(6, "[[5, 2], [4, 1], [3, 1]]")
    assert list(chosen.star_pairs()) == [(1, 3), (1, 4), (2, 5)] and chosen.num_star_pairs() == 3
    every = network(6)
    assert list(every.star_pairs()) == [(a, b) for a in range(1, 6) for b in range(a + 1, 6)]
    assert every.num_star_pairs() == 10 and network(6, '"none"').num_star_pairs() == 0
    assert list(network(6, '"none"').star_pairs()) == [] and network(6, "[]").num_star_pairs() == 0


def star_args(out, pairs: str | None) -> list[str]:
    """``dqsim run`` of a 6-node star (links of 5-30 km, 20,000 pulses each: every link has key) writing ``out``."""
    sets = ["qkd.network.topology=star", "qkd.network.num_nodes=6", "qkd.network.distances_km=[5.0, 10.0, 20.0, "
            "30.0, 15.0]", "qkd.pulses=20000", "qkd.batch_pulses=20000"]
    sets += [f"qkd.network.end_to_end_pairs={pairs}"] if pairs else []
    return ["run", "jobs/qkd_trusted_chain.toml", *(a for s in sets for a in ("--set", s)), "-o", str(out), "--quiet"]


#: The pairs of the list runs below, as a user may give them (either order).
CHOSEN = "[[5, 2], [1, 4], [3, 2]]"


@pytest.mark.timeout(300)
def test_chosen_pairs_get_all_s_rows_the_same_on_one_and_two_ranks_and_none_no_rows(tmp_path):
    """A 6-node star run with every pair, with three chosen pairs (1 and 2 ranks) and with none: the chosen pairs'
    ``end_to_end`` and ``relay_links`` rows are the ``"all"`` run's rows of those pairs (node_a the smaller),
    ``"none"`` leaves both tables empty, every other table is the ``"all"`` run's, and the two-rank run's tables
    are the one-rank run's."""
    run_here(star_args(tmp_path / "all.h5", None))
    run_here(star_args(tmp_path / "one.h5", CHOSEN))
    run_here(star_args(tmp_path / "none.h5", '"none"'))
    run_mpi(2, ["tests/mpi_scripts/dqsim_runs.py", *star_args(tmp_path / "two.h5", CHOSEN)], timeout_s=300)
    every, one, two, none = (open_run(tmp_path / f"{name}.h5") for name in ("all", "one", "two", "none"))
    ends = every.table("end_to_end")
    assert len(ends) == 10 and (ends["secret_key_bits"] > 0).all()  # every pair has key: the rows say something
    kept = [(1, 4), (2, 3), (2, 5)]
    rows = one.table("end_to_end")
    assert list(zip(rows["node_a"].tolist(), rows["node_b"].tolist())) == kept
    pair_of = list(zip(ends["node_a"].tolist(), ends["node_b"].tolist()))
    assert rows.tolist() == [ends[pair_of.index(pair)].tolist() for pair in kept]
    hops, every_hops = one.table("relay_links"), every.table("relay_links")
    assert hops.tolist() == [row for row in every_hops.tolist() if (row[1], row[2]) in kept] and len(hops) == 6
    assert len(none.table("end_to_end")) == 0 and len(none.table("relay_links")) == 0
    assert none.table("end_to_end").dtype == ends.dtype and none.table("relay_links").dtype == every_hops.dtype
    others = [name for name in every.tables if name not in ("timing", "end_to_end", "relay_links")]
    assert "links" in others and "blocks" in others
    for run in (one, two, none):
        same_tables(every, run, others)
    assert two.attrs["num_ranks"] == 2
    same_tables(one, two, [name for name in one.tables if name != "timing"])


def test_dqsim_check_counts_the_chosen_pairs_and_takes_a_star_of_none_past_4096_nodes(tmp_path):
    """``dqsim check``'s memory line counts the pairs that get rows: none for ``"none"`` (a 5,000-node star, refused
    before), the list's for a list."""
    job = tmp_path / "star.toml"
    job.write_text(JOB.format(topology="star", nodes=5000) + 'end_to_end_pairs = "none"\n[qkd]\npulses = 1000\n')
    shown = run_here(["check", str(job)]).stdout
    assert "for its 4,999 link(s) on rank 0" in shown and "no pair of leaves' end-to-end key" in shown
    job.write_text(JOB.format(topology="star", nodes=100) + "end_to_end_pairs = [[1, 2], [3, 99]]\n")
    assert "end-to-end keys of 2 pairs of leaves (end_to_end_pairs)" in run_here(["check", str(job)]).stdout


def test_a_star_s_pairs_are_held_as_arrays_a_piece_at_a_time_not_as_python_rows(monkeypatch):
    """A 96-node star (4,465 pairs of leaves, 200 pulses a link), in this process: the traced peak of its run with
    every pair stays within 300 bytes a pair of its run with none (pieces of 256 rows: its ``end_to_end`` and
    ``relay_links`` tables in 18 pieces each). Measured 140 bytes a pair (a 128-node star, pieces of 512); every row
    a Python tuple until the tables were made whole took 565 (main before 2026-12-07, late night, which also refused
    ``"none"``: figures in bench/results/qkdstar-vm-20261207s.md)."""
    import tracemalloc

    from dqsim import backend as backend_mod
    from dqsim import comm as comm_mod
    from dqsim.scenarios import output, qkd

    monkeypatch.setattr(output, "RECORD_PIECE_ROWS", 256)
    backend, peaks, nodes = backend_mod.select("numpy"), {}, 96
    text = JOB.format(topology="star", nodes=nodes) + "[qkd]\npulses = 200\nbatch_pulses = 200\n"
    for pairs in ('"none"', '"all"', '"none"'):  # the first, not traced, loads modules and fills caches
        job = load_job_text(text.replace("[qkd]\n", f"end_to_end_pairs = {pairs}\n[qkd]\n"))
        if "warm" not in peaks:
            peaks["warm"] = qkd.run_job(job, comm=comm_mod.SingleComm(), backend=backend) and 0
            continue
        tracemalloc.start()
        try:
            out = qkd.run_job(job, comm=comm_mod.SingleComm(), backend=backend)
            peaks[pairs] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    pairs = (nodes - 1) * (nodes - 2) // 2
    assert len(out.tables["end_to_end"]) == 0 and pairs == 4_465
    assert peaks['"all"'] - peaks['"none"'] < 300 * pairs, (peaks, (peaks['"all"'] - peaks['"none"']) / pairs)
