"""Checkpoints of a sparse big network: records only of the nodes that hold one, resumed on any rank count.

A 4-qubit GHZ ``dqc`` run over a 4,096-node line touches 4 nodes: its checkpoints hold those 4 records (one table
with an index and a SHA-256 per record, :data:`dqsim.engine.checkpoint.NODE_INDEX`), not one dataset per node of the
network (before 2026-12-07: 4,096 datasets, 2.5 CPU s a write and 2.7 MB; a 262,144-node line wrote none in 10
minutes, bench/results/network-checkpoint-vm-20261207.md). Resumed on 1 and on 2 ranks it gives the uninterrupted
run's tables; a damaged node record is refused in one line naming the node.
"""

import shutil

import h5py
import pytest

from dqsim.cli.main import main
from dqsim.engine import checkpoint
from dqsim.io import open_run
from mpi_helper import run_mpi
from run_files import checkpoints, saved_node_indices, same_tables
from test_reliability import cli, refused_in_one_line, resign

JOB = """[run]
name = "sparse_line"
scenario = "dqc"
seed = 3
[network]
topology = "line"
num_nodes = 4096
link = { distance_km = 1.0 }
node = { num_data_qubits = 1, num_comm_qubits = 2 }
[circuit]
generator = "ghz"
num_qubits = 4
[simulation]
shots = 100
[checkpoint]
every_sim_s = 4e-5
keep = 10
keep_when_done = true
"""

TABLES = ["counts", "links", "timeline"]


def run_with_checkpoints(folder, text, subfolder):
    """Run the job ``text`` on one rank (in this process) with its checkpoints in ``folder/subfolder``:
    (output, checkpoints), at least two of them."""
    job = folder / "line.toml"
    job.write_text(text + f'directory = "{folder / subfolder}"\n')
    out = folder / "full.h5"
    assert main(["run", str(job), "-o", str(out), "--quiet"]) == 0
    ckpts = checkpoints(folder / subfolder)
    assert len(ckpts) >= 2, ckpts
    return out, ckpts


@pytest.fixture(scope="module")
def sparse_line(tmp_path_factory):
    """The job run on one rank with checkpoints (in this process): (folder, output, checkpoints)."""
    folder = tmp_path_factory.mktemp("sparse_line")
    return (folder, *run_with_checkpoints(folder, JOB, "ck1"))


def resumed_on_one_and_two_ranks(full, middle, tmp_path):
    """Resume (copies of) the checkpoint ``middle`` on one rank in this process and on two under mpiexec: each
    must give ``full``'s tables."""
    assert main(["resume", str(copy_checkpoint(middle, tmp_path / "a")), "-o", str(tmp_path / "r1.h5"),
                 "--quiet"]) == 0
    same_tables(full, open_run(tmp_path / "r1.h5"), TABLES)
    run_mpi(2, ["-m", "mpi4py", "-m", "dqsim", "resume", str(copy_checkpoint(middle, tmp_path / "b")), "-o",
                str(tmp_path / "r2.h5"), "--quiet"])
    same_tables(full, open_run(tmp_path / "r2.h5"), TABLES)


def copy_checkpoint(path, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for file in path.parent.glob(path.name[:-len(".h5")] + ".*"):
        shutil.copy(file, folder / file.name)
    return folder / path.name


def test_a_checkpoint_holds_records_only_of_the_nodes_that_have_one(sparse_line):
    _folder, _out, ckpts = sparse_line
    for path in ckpts:
        run = open_run(path)
        assert run.attrs["num_nodes"] == 4096
        assert saved_node_indices(path) == [0, 1, 2, 3]  # the GHZ's four QPUs, nothing else reached
        assert run.attrs["num_node_records"] == 4
        assert not [name for name in run.tables if name.startswith("engine/node0")]  # no dataset per node
        assert set(checkpoint.saved_node_records(run, range(4096))) == {0, 1, 2, 3}


def test_a_sparse_checkpoint_resumes_on_1_and_2_ranks_to_the_uninterrupted_tables(sparse_line, tmp_path):
    """1 -> 1 and 1 -> 2 (the saved node records re-placed over the ranks; 2 -> 1 and 2 -> 2 at 262,144 nodes:
    bench/results/network-checkpoint-vm-20261207.md)."""
    _folder, out, ckpts = sparse_line
    full = open_run(out)
    resumed_on_one_and_two_ranks(full, ckpts[len(ckpts) // 2], tmp_path)


def test_a_damaged_node_record_is_refused_in_one_line_naming_the_node(sparse_line, tmp_path, capsys):
    """Damaged and re-signed (the manifest matches the file): the record's own SHA-256 refuses it."""
    _folder, _out, ckpts = sparse_line
    target = copy_checkpoint(ckpts[0], tmp_path / "rec")
    records = checkpoint.saved_node_records(open_run(target), range(4))
    records[2] = records[2][:-1] + bytes([records[2][-1] ^ 0x01])
    tables = checkpoint.node_tables(records.items())
    with h5py.File(target, "r+") as h5:  # the bytes changed, the index (and its checksum) as they were
        del h5[checkpoint.NODE_RECORDS]
        h5[checkpoint.NODE_RECORDS] = tables[checkpoint.NODE_RECORDS]
    resign(target)
    code, err = cli(capsys, "resume", target, "-o", tmp_path / "x.h5", "--quiet")
    assert refused_in_one_line(code, err) and "record of node 2 is corrupt" in err[0] and target.name in err[0], err
    assert not (tmp_path / "x.h5").exists()

    index = copy_checkpoint(ckpts[0], tmp_path / "index")  # a record's checksum changed to match: the index's
    with h5py.File(index, "r+") as h5:
        rows = h5[checkpoint.NODE_INDEX][()]
        rows["sha256"][1] = rows["sha256"][0]
        h5[checkpoint.NODE_INDEX][...] = rows
    resign(index)
    code, err = cli(capsys, "resume", index, "-o", tmp_path / "y.h5", "--quiet")
    assert refused_in_one_line(code, err) and "node index" in err[0] and "corrupt" in err[0], err



def test_node_records_of_the_older_layout_are_read_and_checked(tmp_path):
    """A checkpoint written before 2026-12-07 holds one dataset a node, its SHA-256 in ``record_sha256``: still read
    (every record checked), a damaged one refused naming it. (That such a checkpoint resumes, on 1 and 2 ranks, to the
    uninterrupted tables was run by hand: bench/results/network-checkpoint-vm-20261207.md.)"""
    import numpy as np

    from dqsim.errors import DqsimError
    from dqsim.io import write_run_file

    blobs = {f"engine/node{i:06d}": bytes([i]) * (10 + i) for i in range(3)}
    sums = [checkpoint._sha(blob) for blob in blobs.values()]
    sums[2] = checkpoint._sha(b"something else")
    path = write_run_file(tmp_path / "old.h5", attrs={"record_names": list(blobs), "record_sha256": sums},
                          tables={name: np.frombuffer(blob, dtype=np.uint8) for name, blob in blobs.items()})
    assert checkpoint.saved_node_records(open_run(path), [0, 1]) == {0: bytes(10), 1: bytes([1]) * 11}
    with pytest.raises(DqsimError, match="'engine/node000002' is corrupt"):
        checkpoint.saved_node_records(open_run(path), [2])
