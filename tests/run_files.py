"""Comparing dqsim run files, finding the checkpoints a run wrote, and damaging a file's byte."""

import numpy as np

from dqsim.engine import checkpoint
from dqsim.io import open_run


def checkpoints(folder):
    """The complete checkpoints in ``folder`` (run files with a manifest; not slab files), oldest first."""
    return sorted(p for p in folder.glob("*.h5")
                  if ".slab" not in p.name and p.with_name(p.name[:-3] + ".manifest.json").exists())


def same_tables(a, b, names, *, exact=True):
    """Assert that tables ``names`` of run files ``a`` and ``b`` are equal (NaN equals NaN).

    With ``exact=False`` float fields may differ by 1e-12 (a resume on another rank count).
    """
    for name in names:
        x, y = a.table(name), b.table(name)
        if x.dtype.names is None:
            assert np.array_equal(x, y), name
            continue
        for field in x.dtype.names:
            if x[field].dtype.kind == "f" and not exact:
                assert np.allclose(x[field], y[field], atol=1e-12, equal_nan=True), (name, field)
            else:
                assert np.array_equal(x[field], y[field], equal_nan=x[field].dtype.kind == "f"), (name, field)


def node_record_bytes(path, node):
    """The pickled record a checkpoint saved of ``node`` (checked against its SHA-256), or ``None``: none saved."""
    return checkpoint.saved_node_records(open_run(path), [node]).get(node)


def saved_node_indices(path):
    """The nodes whose records a checkpoint holds (those that had an engine record), in order."""
    return [int(node) for node in open_run(path).table(checkpoint.NODE_INDEX)["node"]]


def rewrite_node_records(path, records):
    """Replace the node records of checkpoint ``path`` by ``records`` (node -> pickle bytes), with their checksums
    and the index's (what an attacker can do; the manifest is left as it was)."""
    import h5py

    tables = checkpoint.node_tables(records.items())
    with h5py.File(path, "r+") as h5:
        for name, table in tables.items():
            del h5[name]
            h5[name] = table
        h5.attrs["node_index_sha256"] = checkpoint._node_index_sha(tables[checkpoint.NODE_INDEX])


def flip_byte(path, offset, mask=0x01):
    """Flip the bits ``mask`` of the byte at ``offset`` of the file ``path`` (raw bytes; the size stays)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))
