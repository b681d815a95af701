"""``dqsim`` on every rank of the launch with a per-file size limit set once MPI runs (MPICH's shared-memory files
cannot be made under one): ``python size_limited.py LIMIT_BYTES ARGS...`` (``RLIMIT_FSIZE``; Python ignores
``SIGXFSZ``, so a write past it fails with ``EFBIG``). Each rank ends as ``python -m dqsim`` does."""

import resource
import sys

from mpi4py import MPI  # noqa: F401 - MPI started before the limit

from dqsim.cli import console_main, exit_status


def main() -> int:
    limit = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    return exit_status(console_main(sys.argv[2:]))


if __name__ == "__main__":
    sys.exit(main())
