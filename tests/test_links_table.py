"""The run file's ``links`` table made a piece at a time (docs/not-done-history.md, "Networks at scale").

Until 2026-12-06 the rank that writes a ``dqc`` run's file built the whole table (a row per link of the
network, 88 bytes a row with 7-character names: 184 MB for an ``all_to_all`` of 2,048 nodes) before its
write. Now :func:`dqsim.scenarios.dqc.links_table` gives a
:class:`~dqsim.scenarios.output.TableInPieces` whose rows the writer asks for a piece at a time; the file
holds the same dataset, byte for byte, as the table built whole.
"""

import tracemalloc

import h5py
import numpy as np
import pytest

import dqsim.io.writer as writer
from dqsim.io import open_run, write_run_file
from dqsim.jobs import load_job_text
from dqsim.network.link import LinkSpec
from dqsim.network.network import Network
from dqsim.network.node import NodeSpec
from dqsim.scenarios import dqc
from dqsim.scenarios.output import TableInPieces, record_table


def _network(body: str, num_ranks: int = 1) -> Network:
    text = ('[run]\nname = "t"\nscenario = "dqc"\nseed = 1\n[network]\n' + body +
            '\n[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 1\nnum_comm_qubits = 2\n'
            '[circuit]\ngenerator = "ghz"\nnum_qubits = 4\n')
    return dqc.job_network(load_job_text(text).network, num_ranks)


def _counts(network: Network) -> dqc.LinkCounts:
    """Counts on every third link (some in each piece), as the engine's counters give them."""
    counters = {}
    for index, (a, b) in enumerate(network.links):
        if index % 3 == 0:
            counters[("pairs", b, a)] = index + 1
            counters[("attempts", a, b)] = 2 * index + 5
            counters[("photons", a, b)] = 7 * index
    return dqc.LinkCounts.of_network(network, counters)


def _whole(names, network: Network, links: dqc.LinkCounts) -> np.ndarray:
    """The table as it was built whole before: ``record_table`` of a tuple per link."""
    rows = [(names[a], names[b], network.link(a, b).distance_km, pairs, attempts, photons)
            for a, b, pairs, attempts, photons in links]
    return record_table(rows, [("node_a", "U"), ("node_b", "U"), ("distance_km", "f8"), ("epr_pairs", "i8"),
                               ("attempts", "i8"), ("photons", "i8")])


NETWORKS = ['topology = "line"\nnum_nodes = 23', 'topology = "ring"\nnum_nodes = 23',
            'topology = "star"\nnum_nodes = 23', 'topology = "all_to_all"\nnum_nodes = 12',
            'topology = "grid"\nnum_rows = 3\nnum_cols = 5',
            'topology = "edges"\nnode_names = ["e", "dd", "c", "b", "alpha"]\n'
            'edges = [["c", "alpha", 2.5], ["e", "dd"], ["b", "e", 0.5], ["dd", "c"], ["alpha", "e", 2.5], '
            '["b", "c", 4.0]]']


@pytest.mark.parametrize("body", NETWORKS)
def test_the_links_table_in_pieces_is_the_table_built_whole(tmp_path, monkeypatch, body):
    """Every piece of the table (any bounds) is the same rows as the table built whole, and the run file's
    ``links`` dataset (written 5 rows at a time) holds the same bytes, chunks and compression as that table
    written whole."""
    network = _network(body)
    links = _counts(network)
    names = network.names
    whole = _whole(names, network, links)
    made = dqc.links_table(names, network, links)
    assert isinstance(made, TableInPieces) and made.dtype == whole.dtype and made.shape == whole.shape
    assert np.array_equal(np.asarray(made), whole)
    for size in (1, 4, 7):
        pieces = [made.table_rows(start, start + size) for start in range(0, len(whole), size)]
        assert np.array_equal(np.concatenate(pieces), whole)
    monkeypatch.setattr(writer, "COMPRESS_ABOVE_BYTES", 64)  # compressed and chunked, as a large table is
    one = write_run_file(tmp_path / "whole.h5", attrs={}, tables={"links": whole})
    monkeypatch.setattr(writer, "TABLE_PIECE_ROWS", 5)
    two = write_run_file(tmp_path / "pieces.h5", attrs={}, tables={"links": made})
    with h5py.File(one) as x, h5py.File(two) as y:
        a, b = x["links"], y["links"]
        assert (a.dtype, a.shape, a.chunks, a.compression) == (b.dtype, b.shape, b.chunks, b.compression)
        assert a[()].tolist() == b[()].tolist() and dict(a.attrs) == dict(b.attrs)
    assert np.array_equal(open_run(two).table("links"), open_run(one).table("links"))


def test_a_short_table_in_pieces_is_written_as_its_array():
    """A table of at most ``TABLE_PIECE_ROWS`` rows is asked for once, whole, and written as an array is."""
    asked = []

    def rows(start, stop):
        asked.append((start, stop))
        return np.array([(i, f"n{i}") for i in range(start, stop)], dtype=[("i", "i8"), ("name", "U3")])

    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = write_run_file(f"{folder}/t.h5", attrs={},
                              tables={"t": TableInPieces(np.dtype([("i", "i8"), ("name", "U3")]), 3, rows)})
        assert open_run(path).table("t").tolist() == [(0, "n0"), (1, "n1"), (2, "n2")]
    assert asked == [(0, 3)]


def test_repro_the_writing_rank_never_holds_the_whole_links_table(tmp_path, monkeypatch):
    """The ``links`` table of an ``all_to_all`` of 300 nodes (44,850 links) made and written 1,024 rows at a time:
    the traced peak of making and writing it is ~14 bytes a link (~600 bytes a row of one piece: its Python
    strings), under 25. Before, the table was built whole (88 bytes a row with these names) before the write."""
    network = _network('topology = "all_to_all"\nnum_nodes = 300')
    links = _counts(network)
    monkeypatch.setattr(writer, "TABLE_PIECE_ROWS", 1024)
    tracemalloc.start()
    try:
        before, _peak = tracemalloc.get_traced_memory()
        table = dqc.links_table(network.names, network, links)
        write_run_file(tmp_path / "r.h5", attrs={}, tables={"links": table})
        _held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert network.num_links == 44850
    assert (peak - before) / network.num_links < 25
    got = open_run(tmp_path / "r.h5").table("links")
    assert len(got) == 44850 and got["attempts"].sum() == sum(row[3] for row in links)


def test_a_table_in_pieces_clips_its_bounds_and_refuses_nothing_else():
    t = TableInPieces(np.dtype([("i", "i8")]), 4, lambda a, b: np.arange(a, b).astype([("i", "i8")]))
    assert t.table_rows(2, 99)["i"].tolist() == [2, 3] and t.table_rows(9, 12).size == 0
    assert len(t) == 4 and t.nbytes == 32 and np.asarray(t, dtype=[("i", "i4")]).dtype == np.dtype([("i", "i4")])


def test_links_table_of_a_network_by_hand():
    nodes = [NodeSpec(name=n) for n in ("a", "bb", "c")]
    net = Network.from_links(nodes, [(2, 1, LinkSpec(distance_km=3.0)), (0, 1, LinkSpec(distance_km=2.0))])
    table = dqc.links_table(net.names, net, dqc.LinkCounts.of_network(net, {("pairs", 2, 1): 4}))
    assert np.asarray(table).tolist() == [("a", "bb", 2.0, 0, 0, 0), ("bb", "c", 3.0, 4, 0, 0)]
