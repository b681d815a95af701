"""A cloud centre's per-QPU tables as arrays (since 2026-12-07 (night)): its QPUs' neighbours as compressed sparse
rows made from the network's link arrays (``LinkedQpus``), their data qubits one repeated value or an
``array("q")``; the same selections, refusals and run tables as the tuples they replace, on 1, 2 and 4 ranks over
an edge-list file's network.
"""

import random
import tracemalloc
from array import array

import numpy as np
import pytest

from dqsim.network.node import NumberedNames, RepeatedValue
from dqsim.scenarios.cloud_scheduler import Centre, LinkedQpus, qubit_column, qubit_table

MPI_SNIPPET = """
import sys
import numpy as np
from dqsim import backend, comm
from dqsim.jobs import load_job
from dqsim.scenarios import cloud
c = comm.init()
out = cloud.run_job(load_job(sys.argv[1]), comm=c, backend=backend.select("numpy"))
if c.rank == 0:
    np.savez(sys.argv[2], jobs=out.tables["jobs"], counts=out.tables["counts"], centre=np.asarray(out.tables["centre"]),
             qpu_data_qubits=out.attrs["qpu_data_qubits"])
"""

#: Nine sites: a ring with two chords.
EDGES = "source,target\ns0,s1\ns1,s2\ns2,s3\ns3,s4\ns4,s5\ns5,s6\ns6,s7\ns7,s8\ns8,s0\ns0,s4\ns2,s6\n"


def _reference(num: int, edges) -> list[list[int]]:
    """Each QPU's neighbours as the centre held them until 2026-12-07 (night): sorted sets."""
    sets = [set() for _ in range(num)]
    for a, b in edges:
        sets[a].add(b)
        sets[b].add(a)
    return [sorted(s) for s in sets]


def test_linked_qpus_are_the_sorted_neighbours_of_each_qpu():
    rng = random.Random(4)
    for _ in range(200):
        num = rng.randint(1, 12)
        edges = [tuple(rng.sample(range(num), 2)) for _ in range(rng.randint(0, 20))] if num > 1 else []
        linked = LinkedQpus(num, np.array(edges, dtype=np.int64).reshape(-1, 2))
        assert [list(n) for n in linked] == _reference(num, edges)
        assert [list(n) for n in Centre.from_edges(num, edges, data_qubits=1).neighbours] == _reference(num, edges)
        assert [list(n) for n in Centre(_reference(num, edges), 1).neighbours] == _reference(num, edges)


@pytest.mark.parametrize("edges", [[(0, 0)], [(0, 3)], [(-1, 1)]])
def test_a_link_out_of_range_or_to_itself_is_refused(edges):
    with pytest.raises(ValueError, match=r"^Centre: link -?\d-\d is out of range, a self-loop or one-sided$"):
        Centre.from_edges(3, np.array(edges), data_qubits=1)


def test_one_capacity_is_one_repeated_value_and_answers_as_the_list_of_every_qpus():
    for each in range(4):
        for num in (1, 3, 7):
            edges = [(i, i + 1) for i in range(num - 1)]
            repeated, listed = (Centre.from_edges(num, edges, data_qubits=each),
                                Centre.from_edges(num, edges, data_qubits=[each] * num))
            assert isinstance(repeated.data_qubits, RepeatedValue) and isinstance(listed.data_qubits, array)
            assert list(repeated.data_qubits) == list(listed.data_qubits) == [each] * num
            for wanted in range(-1, each * num + 3):
                assert repeated.qpus_needed(wanted) == listed.qpus_needed(wanted), (each, num, wanted)
                assert repeated.rejection(wanted) == listed.rejection(wanted), (each, num, wanted)
    with pytest.raises(ValueError, match=r"data_qubits must be >= 0"):
        Centre.from_edges(2, [(0, 1)], data_qubits=-1)


def test_a_qubit_table_is_an_int64_column():
    assert qubit_column(qubit_table(3, 4)).tolist() == [3, 3, 3, 3]
    column = qubit_column(qubit_table([1, 5], 2))
    assert column.dtype == np.int64 and column.tolist() == [1, 5]
    assert qubit_column(qubit_table([], 0)).tolist() == []


def test_a_large_centre_holds_arrays_not_a_tuple_a_qpu():
    """A line of 2^16 QPUs from the network's link ends: ~89 traced bytes a QPU at the peak of its making (~33
    held). Until 2026-12-07 (night) ~511 (~199 held): a set a QPU, then a tuple a QPU, the names' and the
    capacities' tuples."""
    num = 1 << 16
    ends = np.stack((np.arange(num - 1), np.arange(1, num)), axis=1).astype(np.int32)
    names = NumberedNames("q", num)
    tracemalloc.start()
    try:
        centre = Centre.from_edges(num, ends, data_qubits=RepeatedValue(2, num), names=names)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert centre.names is names and centre.qpus_needed(9) == 5 and list(centre.neighbours[1]) == [0, 2]
    assert peak / num < 150, peak / num


@pytest.fixture(scope="module")
def edges_cloud_job(tmp_path_factory):
    folder = tmp_path_factory.mktemp("centre")
    (folder / "sites.csv").write_text(EDGES)
    job = folder / "cloud.toml"
    job.write_text('[run]\nname = "c"\nscenario = "cloud"\nseed = 3\n[network]\ntopology = "edges"\n'
                   'edges_file = "sites.csv"\n[network.link]\ndistance_km = 1.0\n[network.node]\nnum_data_qubits = 2\n'
                   'num_comm_qubits = 2\n[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 5\nshots = 40\n'
                   '[[user_jobs]]\ngenerator = "ghz"\nnum_qubits = 3\nshots = 40\n[[user_jobs]]\ngenerator = "ghz"\n'
                   'num_qubits = 19\nshots = 10\n')
    return job


@pytest.mark.parametrize("ranks", [2, 4])
def test_an_edge_files_centre_gives_the_same_tables_on_1_2_and_4_ranks(edges_cloud_job, tmp_path, ranks):
    from mpi_helper import run_mpi

    results = {}
    for count in (1, ranks):
        run_mpi(count, ["-c", MPI_SNIPPET, str(edges_cloud_job), str(tmp_path / f"r{count}.npz")], timeout_s=300)
        results[count] = np.load(tmp_path / f"r{count}.npz")
    one, many = results[1], results[ranks]
    assert list(one["jobs"]["status"]) == ["done", "done", "rejected"]
    assert one["qpu_data_qubits"].tolist() == [2] * 9 and one["centre"]["data_qubits"].tolist() == [2] * 9
    assert one["centre"]["qpu"].tolist() == [f"s{i}" for i in range(9)]
    for name in ("jobs", "counts", "centre", "qpu_data_qubits"):
        assert one[name].dtype == many[name].dtype, name
        if one[name].dtype.names is None:
            assert np.array_equal(one[name], many[name]), name
            continue
        for field in one[name].dtype.names:
            if one[name].dtype[field].kind == "f":  # fidelities: equal up to the reduction order over ranks
                assert np.allclose(one[name][field], many[name][field], rtol=0, atol=1e-12, equal_nan=True)
            else:
                assert np.array_equal(one[name][field], many[name][field]), (name, field)
