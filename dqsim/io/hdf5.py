"""The HDF5 output API in one place (re-exported from the modules that implement it).

* :mod:`dqsim.io.writer`: :func:`write_run_file` (rank 0, atomic);
* :mod:`dqsim.io.sharded`: :func:`write_sharded_state` (every rank: one
  collective file with parallel HDF5, else slab files), :func:`discard_sharded_state`,
  :class:`CollectiveState` and :class:`StateWriteCut`;
* :mod:`dqsim.io.slabs`: :func:`write_state_slab` (every rank),
  :func:`link_state_slabs` and :class:`StateSlabs` (rank 0);
* :mod:`dqsim.io.reader`: :func:`open_run` and :class:`RunFile`;
* :mod:`dqsim.io.summary`: :func:`summarize` and :func:`format_summary`.
"""

from dqsim.io.atomic import (check_output, folder_error, folder_problem, lack_of_room, prepare_output,
                              refuse_read_only, remove_temporaries)
from dqsim.io.limits import file_size_limit, file_too_large, filesystem_file_limit, filesystem_words, size_words
from dqsim.io.reader import RunFile, open_run, whole_run_attrs
from dqsim.io.sharded import (CollectiveState, StateWriteCut, discard_sharded_state, free_bytes, parallel_hdf5,
                              write_sharded_state)
from dqsim.io.stored_state import CorruptSlab
from dqsim.io.slabs import QUBIT_ORDER, StateSlabs, link_state_slabs, write_state_slab
from dqsim.io.summary import format_summary, format_table, summarize, table_csv
from dqsim.io.manifest import verify_run_file
from dqsim.io.writer import write_run_file

__all__ = [
    "QUBIT_ORDER", "CollectiveState", "CorruptSlab", "check_output", "discard_sharded_state", "folder_error",
    "folder_problem",
    "file_size_limit", "file_too_large", "filesystem_file_limit", "filesystem_words", "format_summary", "free_bytes", "lack_of_room", "format_table", "link_state_slabs", "open_run",
    "parallel_hdf5", "prepare_output", "refuse_read_only", "remove_temporaries", "RunFile", "StateSlabs",
    "StateWriteCut", "size_words", "summarize", "table_csv",
    "verify_run_file", "whole_run_attrs", "write_run_file", "write_sharded_state", "write_state_slab",
]
