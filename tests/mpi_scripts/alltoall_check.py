"""Two started all-to-alls of picklable objects in flight at once, looked at with ``test`` until they come.

Usage: python alltoall_check.py OUT.npz
The highest rank posts late (after a pause), so the other ranks' looks find
some objects come and some not: each rank records, per look of the first
all-to-all, how many ranks it still waited for, then what both all-to-alls
gave. Rank 0 saves every rank's records; the test checks them.
"""

import sys
import time

import numpy as np

from dqsim import comm as comm_mod


def main() -> None:
    comm = comm_mod.init()
    rank, size = comm.rank, comm.size
    if rank == size - 1:
        time.sleep(0.5)
    first = comm.start_alltoall([(rank, dest, "first", list(range(rank + dest))) for dest in range(size)])
    second = comm.start_alltoall([(rank, dest, "second") for dest in range(size)])
    awaited = []
    while not first.test():
        awaited.append(len(first._waiting))
        time.sleep(0.01)
    got_first = first.wait()
    got_second = second.wait()
    good_first = all(got_first[src] == (src, rank, "first", list(range(src + rank))) for src in range(size))
    good_second = all(got_second[src] == (src, rank, "second") for src in range(size))
    parts = comm.gather((good_first, good_second, awaited))
    if rank == 0:
        np.savez(sys.argv[1], good=np.array([[p[0], p[1]] for p in parts]),
                 looks=np.array([len(p[2]) for p in parts]),
                 fewest=np.array([min(p[2], default=0) for p in parts]),
                 most=np.array([max(p[2], default=0) for p in parts]))


if __name__ == "__main__":
    main()
