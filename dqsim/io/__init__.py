"""HDF5 outputs: one self-describing file per run, written atomically on rank 0.

The only package that imports ``h5py``. Layout and guarantees are described in
:mod:`dqsim.io.writer` (run files) and :mod:`dqsim.io.slabs` (states stored as
per-rank slab files behind a virtual dataset), :mod:`dqsim.io.sharded`
(the one entry point for sharded states: a collective file with parallel
HDF5, else slab files); :mod:`dqsim.io.reader` reads them back and
:mod:`dqsim.io.summary` backs ``dqsim inspect``.
"""

from dqsim.io.hdf5 import (
    QUBIT_ORDER,
    CollectiveState,
    CorruptSlab,
    RunFile,
    StateSlabs,
    StateWriteCut,
    check_output,
    discard_sharded_state,
    folder_error,
    file_size_limit,
    file_too_large,
    filesystem_file_limit,
    filesystem_words,
    folder_problem,
    format_summary,
    format_table,
    free_bytes,
    lack_of_room,
    link_state_slabs,
    open_run,
    parallel_hdf5,
    prepare_output,
    refuse_read_only,
    remove_temporaries,
    size_words,
    summarize,
    table_csv,
    verify_run_file,
    whole_run_attrs,
    write_run_file,
    write_sharded_state,
    write_state_slab,
)

__all__ = [
    "QUBIT_ORDER", "CollectiveState", "CorruptSlab", "check_output", "discard_sharded_state", "folder_error",
    "folder_problem",
    "file_size_limit", "file_too_large", "filesystem_file_limit", "filesystem_words", "format_summary", "free_bytes", "lack_of_room", "format_table", "link_state_slabs", "open_run",
    "parallel_hdf5", "prepare_output", "refuse_read_only", "remove_temporaries", "RunFile", "StateSlabs",
    "StateWriteCut", "size_words", "summarize", "table_csv",
    "verify_run_file", "whole_run_attrs", "write_run_file", "write_sharded_state", "write_state_slab",
]
