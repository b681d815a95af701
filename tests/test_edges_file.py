"""``[network].edges_file``: a network's links read from an edge-list file.

Each unreadable line is refused in one line naming the file's line, its text and what is allowed; the same links
inline (``edges``) and in a file give the same run; the file counts in the checkpoints' names by its SHA-256, and a
resume refuses it once it changed; a run over a file's network checkpoints and resumes on 1 and 2 ranks to the
uninterrupted run's tables.
"""

import gc
import hashlib
import re

import numpy as np
import pytest

from dqsim import jobs
from dqsim.cli.main import _stored_job, main
from dqsim.errors import DqsimError
from dqsim.io import open_run
from dqsim.jobs import network as job_network_module
from dqsim.jobs.edges_file import EdgesFileError, parse_edges_text
from dqsim.network.fibre import propagation_delay_ps, propagation_delays_ps
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import PackedNames
from dqsim.scenarios.dqc import is_noisy, job_network
from job_helpers import bad
from run_files import checkpoints, same_tables
from test_network_checkpoint import resumed_on_one_and_two_ranks
from test_reliability import cli, refused_in_one_line

#: A ring of 6 nodes with two chords, some links with their own length.
EDGES = """# six sites
source,target,distance_km
a,b
b c 2.5
c,d
d,e,1.5
e,f
f,a
a,d,4
b,e
"""

JOB = """[run]
name = "ef"
scenario = "dqc"
seed = 5
[network]
topology = "edges"
{edges}
link = {{ distance_km = 2.0 }}
node = {{ num_data_qubits = 1, num_comm_qubits = 2 }}
[circuit]
generator = "ghz"
num_qubits = 4
[simulation]
shots = 50
"""

TABLES = ["counts", "links", "timeline"]


def job_with_file(tmp_path, text=EDGES, extra=""):
    """The job over the edge list ``text`` written beside it as ``net.csv``: the job's text."""
    (tmp_path / "net.csv").write_text(text)
    return JOB.format(edges='edges_file = "net.csv"\n' + extra)


def load_here(tmp_path, text):
    return jobs.load_job_text(text, source="jobs/x.toml", base_dir=tmp_path)


def test_a_file_gives_its_names_in_first_appearance_order_its_links_and_lengths(tmp_path):
    job = load_here(tmp_path, job_with_file(tmp_path))
    net = job.network
    assert net.edges_file == str(tmp_path / "net.csv")
    assert isinstance(net.node_name_sequence(), PackedNames)
    assert net.node_names_list() == ["a", "b", "c", "d", "e", "f"]
    assert net.resolved_num_nodes() == 6 and net.num_links() == 8 and net.num_links_with_own_length() == 3
    pairs, links, lengths = net.link_pairs()
    assert pairs.tolist() == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 0], [0, 3], [1, 4]]
    assert lengths.tolist() == [2.0, 2.5, 2.0, 1.5, 2.0, 2.0, 4.0, 2.0] and len({id(link) for link in links}) == 1
    network = job_network(net, 2)
    assert [network.link(a, b).distance_km for a, b in pairs.tolist()] == lengths.tolist()
    assert network.index_of("e") == 4 and network.route(2, 5) in ([2, 3, 4, 5], [2, 1, 0, 5], [2, 3, 0, 5])
    graph = net.build_graph()
    assert graph.number_of_edges() == 8 and graph.edges["d", "e"]["distance_km"] == 1.5


def test_whitespace_comments_a_byte_order_mark_and_no_header_read_the_same():
    plain = parse_edges_text("a,b\nb,c,3\n")
    other = parse_edges_text("\ufeff\n  # comment\na b   # first\n\nb\tc 3.0\n")
    assert list(plain.names) == list(other.names) == ["a", "b", "c"]
    assert np.array_equal(plain.ends, other.ends)
    assert np.array_equal(plain.distances_km, other.distances_km, equal_nan=True)


@pytest.mark.parametrize("text, match", [
    ("a,b\nb,c,1,2\n", r"line 2: 'b,c,1,2' has 4 field\(s\); a line is a,b or a,b,distance_km"),
    ("a,b\nb\n", r"line 2: 'b' has 1 field\(s\)"),
    ("a,b\nb,c,far\n", r"line 2: 'b,c,far': distance_km 'far' is not a number; a line is a,b or a,b,distance_km "
                       r"with distance_km > 0$"),
    ("a,b\nb,c,-1\n", r"line 2: 'b,c,-1': distance_km = -1: must be a distance in km > 0 \(finite\)$"),
    ("a,b\nb,c,inf\n", r"line 2: 'b,c,inf': distance_km = inf: must be a distance in km > 0"),
    ("source,target\na,b\n# x\nc,c\n", r"line 4: 'c,c' links node 'c' to itself$"),
    ("a,b\nb,c\nc,b\n", r"line 3: 'c,b': repeats the link of line 2 \(a link joins two nodes once\)$"),
    ("# nothing\n", r"names 0 node\(s\) in 0 link\(s\); a network needs at least 2 nodes and a link$"),
    ("a,b,1e30\nb,c\n", r"net\.csv: distance_km must be at most .* \(light must cross the fibre within"),
    ("a,b\nc,d\nd,e\n", r"\[network\]\.edges_file: /.*/net\.csv: the topology is disconnected: node\(s\) 'c', 'd', "
                        r"'e' cannot "
                        r"reach 'a'$"),
])
def test_a_bad_line_is_refused_in_one_line_naming_it(tmp_path, text, match):
    message = bad(job_with_file(tmp_path, text), match, base_dir=tmp_path)
    assert f"[network].edges_file: {tmp_path / 'net.csv'}" in message


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    (tmp_path / "net.csv").write_bytes(b"a,b\nb,\xff\n")
    bad(JOB.format(edges='edges_file = "net.csv"'), r'edges_file: /.*/net\.csv line 2: not UTF-8 text \(byte 6\)',
        base_dir=tmp_path)


def test_node_names_order_the_files_nodes_and_must_name_every_one(tmp_path):
    text = job_with_file(tmp_path, extra='node_names = ["f", "e", "d", "c", "b", "a"]')
    net = load_here(tmp_path, text).network
    assert net.node_names_list() == ["f", "e", "d", "c", "b", "a"]
    assert net.link_pairs()[0].tolist()[:2] == [[5, 4], [4, 3]]
    bad(job_with_file(tmp_path, extra='node_names = ["a", "b", "c", "d", "e"]'),
        r"edges_file: /.*/net\.csv line 7: unknown node \"f\", not in node_names; known nodes: \"a\", \"b\", \"c\", "
        r"\"d\", "
        r"\"e\"$", base_dir=tmp_path)
    bad(job_with_file(tmp_path, extra='node_names = ["a", "b", "c", "d", "e", "f", "g"]'),
        r"the topology is disconnected: node\(s\) 'g' cannot reach 'a'", base_dir=tmp_path)


@pytest.mark.parametrize("extra, match", [
    ('edges = [["a", "b"]]\nnode_names = ["a", "b"]',
     r"\[network\]\.edges_file = .*: give the links once: edges \(inline\) or edges_file, not both"),
])
def test_edges_and_edges_file_are_one_or_the_other(tmp_path, extra, match):
    bad(job_with_file(tmp_path, extra=extra), match, base_dir=tmp_path)


def test_missing_keys_and_files(tmp_path):
    bad(JOB.format(edges=""), r'missing key \[network\]\.edges \(required with topology = "edges", or edges_file '
                              r'instead\)', base_dir=tmp_path)
    bad(JOB.format(edges='edges_file = "none.csv"'), r"\[network\]\.edges_file = \"none\.csv\": file not found",
        base_dir=tmp_path)
    (tmp_path / "net.csv").write_text(EDGES)
    bad(JOB.format(edges="edges_file = \"net.csv\"").replace('"edges"', '"ring"\nnum_nodes = 3'),
        r'\[network\]\.edges_file = .*: only used with topology = "edges"', base_dir=tmp_path)


def test_more_nodes_than_the_cap_are_refused_by_dqsim_check_in_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "job.toml").write_text(job_with_file(tmp_path))
    monkeypatch.setattr(job_network_module, "MAX_EDGES_NETWORK_NODES", 5)
    code, err = cli(capsys, "check", tmp_path / "job.toml")
    assert refused_in_one_line(code, err), err
    assert re.search(r'\[network\]\.edges_file: /.*/net\.csv names 6 nodes; topology = "edges" allows at most 5$',
                     err[0]), err


def test_dqsim_check_shows_the_file_its_size_and_its_sha256(tmp_path, capsys):
    (tmp_path / "job.toml").write_text(job_with_file(tmp_path))
    assert main(["check", str(tmp_path / "job.toml")]) == 0
    out = capsys.readouterr().out
    sha = hashlib.sha256(EDGES.encode()).hexdigest()
    assert f"# edges file: {tmp_path / 'net.csv'}: 6 nodes, 8 links (3 with their own distance_km), SHA-256 " \
           f"{sha[:16]}..." in out
    assert "~430 bytes for each of the 8 links, whose lengths are not all equal" in out


def test_inline_edges_and_the_same_edges_in_a_file_give_the_same_run(tmp_path):
    inline = JOB.format(edges='node_names = ["a", "b", "c", "d", "e", "f"]\nedges = [["a", "b"], ["b", "c", 2.5], '
                              '["c", "d"], ["d", "e", 1.5], ["e", "f"], ["f", "a"], ["a", "d", 4.0], ["b", "e"]]')
    (tmp_path / "inline.toml").write_text(inline)
    (tmp_path / "file.toml").write_text(job_with_file(tmp_path))
    for name in ("inline", "file"):
        assert main(["run", str(tmp_path / f"{name}.toml"), "-o", str(tmp_path / f"{name}.h5"), "--quiet"]) == 0
    a, b = open_run(tmp_path / "inline.h5"), open_run(tmp_path / "file.h5")
    same_tables(a, b, TABLES)
    assert list(a.node_names()) == list(b.node_names()) == list("abcdef")


def test_the_configuration_hash_counts_the_file_by_content(tmp_path):
    text = job_with_file(tmp_path)
    first = jobs.config_sha256(load_here(tmp_path, text))
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "net.csv").write_text(EDGES)
    assert jobs.config_sha256(load_here(moved, text)) == first
    (moved / "net.csv").write_text(EDGES.replace("d,e,1.5", "d,e,1.6"))
    assert jobs.config_sha256(load_here(moved, text)) != first
    assert jobs.input_file_hashes(load_here(moved, text)) == {
        str(moved / "net.csv"): hashlib.sha256((moved / "net.csv").read_bytes()).hexdigest()}


@pytest.fixture(scope="module")
def checkpointed(tmp_path_factory):
    """The job over the file run on one rank with checkpoints kept: (folder, output, checkpoints)."""
    folder = tmp_path_factory.mktemp("edges_file")
    job = folder / "job.toml"
    job.write_text(job_with_file(folder) + f'[checkpoint]\nevery_sim_s = 2e-5\nkeep = 20\nkeep_when_done = true\n'
                                           f'directory = "{folder / "ck"}"\n')
    out = folder / "full.h5"
    assert main(["run", str(job), "-o", str(out), "--quiet"]) == 0
    ckpts = checkpoints(folder / "ck")
    assert len(ckpts) >= 2, ckpts
    return folder, open_run(out), ckpts


def test_a_checkpoint_resumes_on_one_and_two_ranks_to_the_runs_tables(checkpointed, tmp_path):
    _folder, full, ckpts = checkpointed
    resumed_on_one_and_two_ranks(full, ckpts[len(ckpts) // 2], tmp_path)


def test_a_resume_refuses_a_changed_edges_file(checkpointed):
    folder, _full, ckpts = checkpointed
    newest = ckpts[-1]
    edges = folder / "net.csv"
    assert _stored_job(open_run(newest).attrs, None, newest).network.edges_file == str(edges)
    edges.write_text(EDGES.replace("d,e,1.5", "d,e,1.6"))
    try:
        with pytest.raises(DqsimError, match=rf"^{newest}: {edges}, which the job reads, changed since the "
                                             r"checkpoint was written \(SHA-256 differs\); restore that file or run "
                                             r"the job again$"):
            _stored_job(open_run(newest).attrs, None, newest)
    finally:
        edges.write_text(EDGES)


def test_packed_names_survive_pickling_and_equal_their_tuple():
    import pickle

    names = PackedNames(["x1", "ä", "b"])
    again = pickle.loads(pickle.dumps(names))
    assert again == names == ("x1", "ä", "b") and again.index("b") == 2 and again.index_of("c") is None
    assert hash(again) == hash(("x1", "ä", "b"))


def test_the_parser_raises_its_own_error_with_the_line():
    with pytest.raises(EdgesFileError) as info:
        parse_edges_text("a,b\n\nb,b\n")
    assert info.value.line == 3


@pytest.mark.parametrize("space", ["\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_a_repeated_link_quotes_its_own_line_after_a_space_that_str_splitlines_splits_at(space):
    """Lines are numbered at \\n only; until 2026-12-07 (afternoon) the repeat's refusal took its text from
    ``str.splitlines``, which also splits at these, and quoted another line ('c d' for line 3 here)."""
    with pytest.raises(EdgesFileError) as info:
        parse_edges_text(f"a b{space}\nc d\nb a\n")
    assert (info.value.line, info.value.message) == (3, "'b a': repeats the link of line 1 (a link joins two "
                                                        "nodes once)")


def test_a_set_edges_file_resolves_against_the_current_folder_and_is_recorded_relative_to_the_job(tmp_path,
                                                                                                  monkeypatch):
    job = load_here(tmp_path, job_with_file(tmp_path))
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "other.csv").write_text("a,b\nb,c\nc,d\n")
    monkeypatch.chdir(tmp_path / "nets")
    other = jobs.apply_overrides(job, ['network.edges_file="other.csv"'])
    assert other.network.edges_file == str(tmp_path / "nets" / "other.csv")
    assert other.network.node_names_list() == ["a", "b", "c", "d"]
    assert jobs.overrides_from_job(other) == ['network.edges_file="nets/other.csv"']


def _ring_with_chords_of_their_own_lengths(num_nodes: int) -> str:
    """An edge list of a ring of ``num_nodes`` nodes and a chord from every third node, every link a length of its
    own (distinct) but one, which takes ``[network.link]``'s."""
    lines = ["source,target,distance_km", "n0,n1"]
    lines += [f"n{i},n{(i + 1) % num_nodes},{1.0 + i / 7:.6f}" for i in range(1, num_nodes)]
    lines += [f"n{i},n{(i + num_nodes // 2) % num_nodes},{3.0 + i / 11:.6f}" for i in range(0, num_nodes // 2, 3)]
    return "\n".join(lines) + "\n"


def test_repro_links_of_their_own_lengths_hold_no_linkspec_each(tmp_path):
    """Until 2026-12-07 (later) every rank held a :class:`LinkSpec` per distinct length of an ``edges`` network
    (~1.2 kB each once the pairing horizon's properties were cached: ~0.8 GB a rank had 2^21 links their own
    lengths). Now the lengths are one float64 array beside the one spec of ``[network.link]``, a link's spec is made
    when read: building the network and asking it what a run asks (the horizon, noise, the lookahead's table, the
    latencies from a node) leaves no spec per length. Counted by objects, not timed. The network answers as the one
    made of a spec per link (the way before) does."""
    job = load_here(tmp_path, job_with_file(tmp_path, _ring_with_chords_of_their_own_lengths(300)))
    section = job.network
    assert len(np.unique(section.link_pairs()[2])) > 300
    before = sum(isinstance(o, LinkSpec) for o in gc.get_objects())
    network = job_network(section, 2)
    network.check_pairing_horizon()
    noisy = is_noisy(network)
    table = network.rank_distances_ps()
    latencies = network.latencies_from(0)
    held = sum(isinstance(o, LinkSpec) for o in gc.get_objects()) - before
    assert held <= 4, held

    pairs, links, lengths = section.link_pairs()
    nodes = section.node_spec("n0").renamed_all(section.node_name_sequence())
    one_each = Network.from_pairs(nodes, pairs, [link.with_lengths([x])[0] for link, x in zip(links, lengths.tolist())],
                                  num_ranks=2)
    assert network.links == one_each.links and network.link_specs == one_each.link_specs
    assert network.link_delays_ps().tolist() == one_each.link_delays_ps().tolist()
    assert network.lookahead_ps == one_each.lookahead_ps and table == one_each.rank_distances_ps()
    assert latencies == one_each.latencies_from(0) and noisy == is_noisy(one_each)
    assert [network.route(0, k) for k in (7, 150, 299)] == [one_each.route(0, k) for k in (7, 150, 299)]


def test_the_vectorised_delays_are_the_links_own(tmp_path):
    """:func:`~dqsim.network.fibre.propagation_delays_ps`, which an ``edges`` network's delays come from, gives the
    integers :func:`~dqsim.network.fibre.propagation_delay_ps` gives, on lengths and group indices drawn at random
    and on lengths whose delays fall half a picosecond from an integer."""
    rng = np.random.default_rng(3)
    lengths = np.concatenate((rng.uniform(0.0, 500.0, 20_000), rng.uniform(0.0, 1e-3, 2_000),
                              (np.arange(2_000) + 0.5) * 299_792_458.0 / 1.468 / 1e15))
    indices = np.concatenate((rng.uniform(1.0, 2.0, 22_000), np.full(2_000, 1.468)))
    assert propagation_delays_ps(lengths, indices).tolist() == [
        propagation_delay_ps(x, g) for x, g in zip(lengths.tolist(), indices.tolist())]


def test_a_link_past_the_pairing_horizon_among_own_lengths_is_refused_at_its_first_line(tmp_path):
    """Each spec's longest link judges the horizon for the shorter ones; where it is refused every length is
    asked, in link order, and the first link refused is named as before."""
    text = "source,target,distance_km\na,b,10\nb,c,600\nc,d,700\nd,a,20\n"
    job = load_here(tmp_path, job_with_file(tmp_path, text))
    with pytest.raises(DqsimError, match=r"\[network\] link b-c: distance_km = 600.0: a pair takes"):
        job_network(job.network, 1).check_pairing_horizon()
