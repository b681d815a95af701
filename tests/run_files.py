"""Comparing dqsim run files, finding the checkpoints a run wrote, and damaging a file's byte."""

import numpy as np


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


def flip_byte(path, offset, mask=0x01):
    """Flip the bits ``mask`` of the byte at ``offset`` of the file ``path`` (raw bytes; the size stays)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ mask]))
