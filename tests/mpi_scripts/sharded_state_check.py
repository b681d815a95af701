"""Write a known state with write_sharded_state on every rank, read it back, check it.

Usage: python sharded_state_check.py FOLDER NUM_QUBITS DTYPE [bad | bad-looked | cut LOOK]
       python sharded_state_check.py --cases ROOT NUM_QUBITS DTYPE NAME[=QUBITS,DTYPE][:bad | :bad-looked | :cut:LOOK
       | :slabs]...
Writes FOLDER/run.h5 (and slab files on the serial path). Every rank then
reads its own range with ``state_pieces(verify=True)`` and rank 0 the whole
state; each compares with the known vector (seeded, the same on every rank).
Rank 0 prints ``layout=<layout> files=<names in FOLDER>``. With ``bad`` rank 1
hands over too few amplitudes: every rank must raise (no hang) and prints
``raised <ExceptionType>``; ``bad-looked`` the same in a write that looks for
a stop every 64 amplitudes (rank 1 fails between two looks of rank 0's). With
``cut LOOK`` the state is written whole, then another state over it, looking
for a stop every 64 amplitudes, rank 1 alone wanting to stop from its look
LOOK on: rank 0 prints how that write ended on every rank, then
``after the cut: files=<names> older files kept as they were=<count>``.

With ``--cases`` each case runs in turn in this one launch (one interpreter start per rank for all of them),
in the new folder ROOT/NAME, what each rank prints going to ROOT/NAME.rank<R>.out; ``=QUBITS,DTYPE`` gives the case
a state of its own size and type (else the launch's), ``slabs`` runs it with ``DQSIM_PARALLEL_HDF5=0`` (what a
launch with it in the environment writes: slab files, even with parallel HDF5).
"""

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from dqsim import comm as comm_mod
from dqsim import io
from dqsim.errors import DqsimError
from dqsim.io import sharded


def known_state(num_qubits, dtype):
    rng = np.random.default_rng(20 + num_qubits)
    v = rng.normal(size=1 << num_qubits) + 1j * rng.normal(size=1 << num_qubits)
    return (v / np.linalg.norm(v)).astype(dtype)


def pieces_of(slab, rank):
    """Uneven pieces, a different count per rank (independent writes must not care)."""
    step = 37 + 11 * rank
    return [(a, slab[a:a + step]) for a in range(0, slab.size, step)]


def main(folder, num_qubits, dtype, bad=False, looked=False, cut=None):
    comm = comm_mod.init()
    folder = Path(folder)
    vector = known_state(num_qubits, np.dtype(dtype))
    size = vector.size // comm.size
    start = comm.rank * size
    mine = vector[start:start + size]
    pieces = pieces_of(mine, comm.rank)
    if bad and comm.rank == 1:
        pieces = pieces[:-1]
    if looked:
        sharded.STATE_PIECE_AMPLITUDES = 64
    try:
        kwargs = io.write_sharded_state(folder / "run", iter(pieces), comm=comm, slab_size=size, dtype=vector.dtype,
                                        cut_on=(lambda: False) if looked else None)
    except (ValueError, DqsimError) as exc:
        print(f"rank {comm.rank} raised {type(exc).__name__}: {exc}", flush=True)
        return
    if bad:
        raise SystemExit(f"rank {comm.rank}: bad pieces were accepted")
    if comm.rank == 0:
        io.write_run_file(folder / "run.h5", attrs={"name": "sharded"}, tables={"t": np.arange(3)}, **kwargs)
    comm.barrier()
    run = io.open_run(folder / "run.h5")
    run.check_state_files()
    got = np.empty(size, dtype=vector.dtype)
    for offset, piece in run.state_pieces(start, start + size, piece=100, verify=True):
        got[offset:offset + piece.size] = piece
    assert np.array_equal(got, mine), f"rank {comm.rank}: its range read back differs"
    comm.barrier()
    if comm.rank == 0:
        assert np.array_equal(run.state(), vector), "state() differs"
        assert run.table("t").tolist() == [0, 1, 2]
        names = ",".join(sorted(p.name for p in folder.iterdir()))
        print(f"layout={run.state_info['layout']} files={names}", flush=True)
    if cut is not None:
        comm.barrier()  # rank 0 has listed the files
        cut_over(folder, vector, size, comm, cut)


def cut_over(folder, vector, size, comm, from_look):
    """Write ``-vector`` over the state just written; rank 1 alone wants to stop from its look ``from_look`` on."""
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    sharded.STATE_PIECE_AMPLITUDES = 64
    looks = []

    def cut_on():
        looks.append(1)
        return comm.rank == 1 and len(looks) >= from_look

    other = -vector[comm.rank * size:(comm.rank + 1) * size]
    try:
        io.write_sharded_state(folder / "run", pieces_of(other, comm.rank), comm=comm, slab_size=size,
                               dtype=vector.dtype, cut_on=cut_on)
        ended = f"rank {comm.rank}: written whole after {len(looks)} looks"
    except io.StateWriteCut:
        ended = f"rank {comm.rank}: cut at look {len(looks)}"
    ended = comm.gather(ended)
    if comm.rank == 0:
        print("\n".join(ended), flush=True)
        after = {p.name: p.read_bytes() for p in folder.iterdir()}
        kept = sum(after.get(name) == data for name, data in before.items())
        print(f"after the cut: files={','.join(sorted(after))} older files kept as they were={kept}", flush=True)


def mode_options(mode):
    """main's keyword arguments for the mode words ``[]``, ``["bad"]``, ``["bad-looked"]`` or ``["cut", LOOK]``."""
    return {"bad": mode[:1] in (["bad"], ["bad-looked"]), "looked": mode[:1] == ["bad-looked"],
            "cut": int(mode[1]) if mode[:1] == ["cut"] else None}


@contextlib.contextmanager
def parallel_hdf5_off(off):
    """``DQSIM_PARALLEL_HDF5=0`` while the block runs where ``off`` (the variable as it was afterwards)."""
    saved = os.environ.get(sharded.PARALLEL_ENV)
    if off:
        os.environ[sharded.PARALLEL_ENV] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(sharded.PARALLEL_ENV, None)
        else:
            os.environ[sharded.PARALLEL_ENV] = saved


def run_cases(root, num_qubits, dtype, cases):
    """Each case ``NAME[=QUBITS,DTYPE][:MODE[:LOOK]]`` in turn: :func:`main` in ROOT/NAME, each rank's output to
    ROOT/NAME.rank<R>.out; the piece size a looked write sets is put back after each case."""
    comm = comm_mod.init()
    piece_amplitudes = sharded.STATE_PIECE_AMPLITUDES
    for case in cases:
        name, *mode = case.split(":")
        name, _, size = name.partition("=")
        qubits, kind = size.split(",") if size else (num_qubits, dtype)
        folder = Path(root) / name
        if comm.rank == 0:
            folder.mkdir()
        comm.barrier()
        try:
            with (open(Path(root) / f"{name}.rank{comm.rank}.out", "w") as out, contextlib.redirect_stdout(out),
                  parallel_hdf5_off(mode == ["slabs"])):
                main(folder, int(qubits), kind, **mode_options([] if mode == ["slabs"] else mode))
        except BaseException:
            print(f"sharded_state_check.py: case {case} failed on rank {comm.rank}", file=sys.stderr, flush=True)
            raise
        sharded.STATE_PIECE_AMPLITUDES = piece_amplitudes
        comm.barrier()


if __name__ == "__main__":
    if sys.argv[1] == "--cases":
        run_cases(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
    else:
        main(sys.argv[1], int(sys.argv[2]), sys.argv[3], **mode_options(sys.argv[4:]))
